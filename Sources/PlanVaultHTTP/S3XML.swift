import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Collects the text of selected elements from an S3 XML response (ListObjectsV2, errors,
/// CreateMultipartUpload). S3 XML is flat enough that "element name → texts in order" suffices.
final class S3XML: NSObject, XMLParserDelegate {
    private var wanted: Set<String>
    private var current: String?
    /// The document's root element ("ListBucketResult", "Error", ...).
    private(set) var root: String?
    private var depth = 0
    /// Whether the root element was closed: FoundationXML accepts a document cut off before its
    /// closing tags, so completeness is checked here.
    private var complete = false
    private var text = ""
    private(set) var values: [String: [String]] = [:]

    private init(wanted: Set<String>) { self.wanted = wanted }

    static func parse(_ bytes: [UInt8], elements: Set<String>) -> [String: [String]]? {
        document(bytes, elements: elements)?.values
    }

    /// The root element's name and the wanted elements' texts; nil unless the whole document parses.
    static func document(_ bytes: [UInt8], elements: Set<String>) -> (root: String, values: [String: [String]])? {
        guard !bytes.isEmpty, let document = plainDocument(bytes) else { return nil }
        let collector = S3XML(wanted: elements)
        let parser = XMLParser(data: Data(document))
        parser.delegate = collector
        guard parser.parse(), collector.complete, let root = collector.root else { return nil }
        return (root, collector.values)
    }

    /// The Code of an S3 <Error> document, or nil if the body is not one.
    static func errorCode(_ bytes: [UInt8]) -> String? {
        guard let doc = document(bytes, elements: ["Code"]), doc.root == "Error" else { return nil }
        return doc.values["Code"]?.first
    }

    /// The elements of a reply that is UTF-8 made only of an XML declaration, elements and text, as
    /// S3 replies are; nil for anything else. Foundation's XMLParser on Linux traps on an element name
    /// that is not UTF-8 and on a processing instruction without data (found by fuzzing), so
    /// processing instructions, DTDs, comments and CDATA never reach it, nor does the declaration:
    /// it is cut off (the bytes are UTF-8, the parser's default), as is leading whitespace (S3 sends
    /// some to keep a slow CompleteMultipartUpload alive).
    static func plainDocument(_ bytes: [UInt8]) -> ArraySlice<UInt8>? {
        guard String(validating: bytes, as: UTF8.self) != nil else { return nil }
        let whitespace: [UInt8] = [0x20, 0x09, 0x0A, 0x0D]
        var body = bytes.drop { whitespace.contains($0) }
        let declaration = Array("<?xml".utf8)
        if body.starts(with: declaration), body.count > declaration.count,
           whitespace.contains(body[body.startIndex + declaration.count]) {
            guard let end = firstIndex(of: [0x3F, 0x3E], in: body),  // "?>"
                  !body[(body.startIndex + 1)..<end].contains(0x3C) else { return nil }  // no "<" inside
            body = body[(end + 2)...]
        }
        guard firstIndex(of: [0x3C, 0x3F], in: body) == nil, firstIndex(of: [0x3C, 0x21], in: body) == nil else {  // "<?", "<!"
            return nil
        }
        return body
    }

    private static func firstIndex(of pair: [UInt8], in bytes: ArraySlice<UInt8>) -> Int? {
        var i = bytes.startIndex
        while i + 1 < bytes.endIndex {
            if bytes[i] == pair[0] && bytes[i + 1] == pair[1] { return i }
            i += 1
        }
        return nil
    }

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        if root == nil { root = elementName }
        depth += 1
        if wanted.contains(elementName) {
            current = elementName
            text = ""
        }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if current != nil { text += string }
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
        depth -= 1
        if depth == 0 { complete = true }
        if elementName == current {
            values[elementName, default: []].append(text)
            current = nil
        }
    }
}
