import PlanVaultCore

/// One page of a ListObjectsV2 reply, checked for completeness: a cut body must not pass for a
/// short listing, since a missing bundle would then look absent and a push would trust the gap.
struct S3Listing {
    var objects: [ObjectInfo] = []
    var continuationToken: String?

    init(_ body: [UInt8], location: String) throws {
        func broken(_ why: String) -> PlanVaultError {
            .backend(location: location, message: "S3 sent an incomplete or malformed listing (\(why)); try again, and check any proxy between here and S3")
        }
        guard let document = S3XML.document(body, elements: ["Key", "Size", "IsTruncated", "NextContinuationToken", "KeyCount"]) else {
            throw broken("the XML is cut off or unreadable")
        }
        guard document.root == "ListBucketResult" else { throw broken("the reply is a \(document.root), not a ListBucketResult") }
        let fields = document.values
        guard let truncated = fields["IsTruncated"], truncated.count == 1, truncated[0] == "true" || truncated[0] == "false" else {
            throw broken("IsTruncated is missing")
        }
        let keys = fields["Key"] ?? [], sizes = fields["Size"] ?? []
        guard keys.count == sizes.count else { throw broken("\(keys.count) keys but \(sizes.count) sizes") }
        if let count = fields["KeyCount"]?.first, Int(count) != keys.count {
            throw broken("KeyCount says \(count), the reply holds \(keys.count)")
        }
        for (key, size) in zip(keys, sizes) {
            guard let bytes = UInt64(size) else { throw broken("size \"\(size)\" of \(key) is not a number") }
            // Only valid object names are listed (a stray file someone put there is not ours).
            let name = String(key.split(separator: "/").last ?? "")
            if ObjectName.isValid(name) { objects.append(ObjectInfo(name: name, size: bytes)) }
        }
        if truncated[0] == "true" {
            guard let token = fields["NextContinuationToken"]?.first, !token.isEmpty else {
                throw broken("IsTruncated is true but there is no continuation token")
            }
            continuationToken = token
        }
    }
}
