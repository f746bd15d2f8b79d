// The S3 client's parser of replies: XML from ListObjectsV2, errors and multipart uploads.
import Foundation
@testable import PlanVaultHTTP

enum HTTPTargets {
    typealias Target = @Sendable ([UInt8]) -> Void

    static let all: [String: Target] = ["s3-xml": s3XML]

    static func s3XML(_ data: [UInt8]) {
        _ = S3XML.parse(data, elements: ["Key", "Size", "IsTruncated", "NextContinuationToken", "Code", "Message", "UploadId"])
    }

    static func writeSeeds(to dir: String) throws {
        let list = """
            <?xml version="1.0" encoding="UTF-8"?>
            <ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><Prefix>repo/index/</Prefix>\
            <KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>\
            <Contents><Key>repo/index/0f0f</Key><Size>120</Size></Contents>\
            <Contents><Key>repo/index/a&amp;b</Key><Size>7</Size></Contents>\
            <NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</NextContinuationToken></ListBucketResult>
            """
        let error = """
            <?xml version="1.0" encoding="UTF-8"?>
            <Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message><Key>repo/config</Key></Error>
            """
        let upload = """
            <?xml version="1.0" encoding="UTF-8"?>
            <InitiateMultipartUploadResult><Bucket>b</Bucket><Key>repo/bundles/ab</Key><UploadId>VXBsb2FkIElE</UploadId></InitiateMultipartUploadResult>
            """
        let folder = "\(dir)/s3-xml"
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        for (i, seed) in [list, error, upload].enumerated() { try Data(seed.utf8).write(to: URL(fileURLWithPath: "\(folder)/seed-\(i)")) }
    }
}
