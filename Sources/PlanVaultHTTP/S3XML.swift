import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Collects the text of selected elements from an S3 XML response (ListObjectsV2, errors,
/// CreateMultipartUpload). S3 XML is flat enough that "element name → texts in order" suffices.
final class S3XML: NSObject, XMLParserDelegate {
    private var wanted: Set<String>
    private var current: String?
    private var text = ""
    private(set) var values: [String: [String]] = [:]

    private init(wanted: Set<String>) { self.wanted = wanted }

    static func parse(_ bytes: [UInt8], elements: Set<String>) -> [String: [String]]? {
        let collector = S3XML(wanted: elements)
        let parser = XMLParser(data: Data(bytes))
        parser.delegate = collector
        guard parser.parse() else { return nil }
        return collector.values
    }

    func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?,
                attributes: [String: String] = [:]) {
        if wanted.contains(elementName) {
            current = elementName
            text = ""
        }
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if current != nil { text += string }
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
        if elementName == current {
            values[elementName, default: []].append(text)
            current = nil
        }
    }
}
