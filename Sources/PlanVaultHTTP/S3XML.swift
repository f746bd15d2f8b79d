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
        guard !bytes.isEmpty else { return nil }
        let collector = S3XML(wanted: elements)
        let parser = XMLParser(data: Data(bytes))
        parser.delegate = collector
        guard parser.parse(), collector.complete, let root = collector.root else { return nil }
        return (root, collector.values)
    }

    /// The Code of an S3 <Error> document, or nil if the body is not one.
    static func errorCode(_ bytes: [UInt8]) -> String? {
        guard let doc = document(bytes, elements: ["Code"]), doc.root == "Error" else { return nil }
        return doc.values["Code"]?.first
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
