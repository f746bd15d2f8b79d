import Foundation
import XCTest
@testable import PlanVaultHTTP

/// Inputs the s3-xml fuzz target (scripts/fuzz.sh) found crashing, kept as they were found. Before the
/// fix each one trapped inside Foundation's XMLParser and took the whole process down.
final class S3XMLFuzzRegressionTests: XCTestCase {
    static let wanted: Set<String> = ["Key", "Size", "IsTruncated", "NextContinuationToken", "Code", "Message", "UploadId"]

    func bytes(_ base64: String) throws -> [UInt8] {
        Array(try XCTUnwrap(Data(base64Encoded: base64)))
    }

    /// A ListObjectsV2 reply whose element name holds the bytes 0x01 0xCD (not UTF-8).
    func testReplyWithAnElementNameThatIsNotUTF8IsRefused() throws {
        let input = try bytes("""
            PD94bWwgdmVyc2lvbj0iMS4wIiBlbmNvZGluZz0iVVRGLTgiPz4KPExpc1RCdWNrZXRSAc11bHQgeG1sbnM9Imh0dHA6Ly9zMy5hbWF6b25hd3Mu\
            Y29tL2RvYy8yMDA2LTAzLTAxLyI+PE5hbWU+YjwvTmFtZT48UHJ1bmNhdGVkPnRydWU8L0lzVHJ1bmNhdENlPGRv0m50ZW50cz48S2V5PnJvdW50\
            PjxNYXhLZXlzPjEwMDA8L01heEtleXM+PElzVHJ1bmNhdGVkPnRydWU8L0lzVHJ1bmNhdGVkPjxDb250ZW50cz48S2V5PnJlcG8vaW5klHgvMGYw\
            ZjwvS2V5PjxTaXplPjEyMDwvU2l6ZT48L0NvbnRlblN0dWJzdHJpbm50cz48S2V5PnJlcG8vaW5kZXgvYSZhbXA7YjwvS2V5PjxTaXplPjc8L3Np\
            emU+PC9Db250ZW50cz48TmV4dENvbnRpbnVhdGlvcnJvcj48Q29kZT5Ob1N1YyRLZXk8L0NvZC8iPjxOYW1lPmI8L05hbWU+PFByZWllZCBrZXkg\
            ZG9lcyBub3RpbnVhdGlvblRva2VuPjwvTGlzdEJ1Y2tldFJlc3VsdD4=
            """)
        XCTAssertNil(S3XML.parse(input, elements: Self.wanted))
    }

    /// "<?xmb?>": a processing instruction without data.
    func testReplyWithAProcessingInstructionIsRefused() throws {
        let input = try bytes("PD94bWI/Pgo8TGlzXVtvbS9kbyI+PE5hbUFlPmI8L05haGU+PFBydUBuY2F0ZWQ+dHJ1ZTwvSS4wIjA=")
        XCTAssertNil(S3XML.parse(input, elements: Self.wanted))
    }

    /// A declaration that holds another one and a processing instruction ("<?xF-8?>") before its end.
    func testReplyWithAProcessingInstructionInsideItsDeclarationIsRefused() throws {
        let input = try bytes("""
            PD94bWwgdm9yPD94bWwgPSJVVD48Q288P3hGLTg/Pgo8TGlzdEJ1bHQ+PHp5PnJlcHQvSWEmIj8+aW5pYXRlTXZlc21ub2lwO2I8Lzxw\
            cDtiOkNwby9obmQmYUluaW1wO2I8L2EmLw==
            """)
        XCTAssertNil(S3XML.parse(input, elements: Self.wanted))
    }

    /// The guard must not refuse what S3 sends: leading keep-alive whitespace, a declaration,
    /// namespaces, entities in keys.
    func testListingWithKeepAliveWhitespaceDeclarationAndEntitiesParses() {
        let reply = """
              \n<?xml version="1.0" encoding="UTF-8"?>
            <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><IsTruncated>false</IsTruncated>\
            <Contents><Key>repo/index/a&amp;b</Key><Size>7</Size></Contents></ListBucketResult>
            """
        let fields = S3XML.parse(Array(reply.utf8), elements: Self.wanted)
        XCTAssertEqual(fields?["Key"], ["repo/index/a&b"])
        XCTAssertEqual(fields?["Size"], ["7"])
        XCTAssertEqual(fields?["IsTruncated"], ["false"])
    }
}
