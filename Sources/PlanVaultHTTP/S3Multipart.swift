import Foundation
import PlanVaultCore

/// Runs the stale-upload cleanup once per backend; concurrent writers wait for that one run.
actor StaleUploadCleanup {
    private var task: Task<Void, Never>?

    func run(_ body: @escaping @Sendable () async -> Void) async {
        if task == nil { task = Task { await body() } }
        await task?.value
    }
}

/// Multipart uploads: large objects in parts, a completion that recognises its own earlier
/// success, and the clearing of uploads a killed push left behind (S3 bills their parts).
extension S3Backend {
    func writeMultipart(_ key: String, label: String, _ data: [UInt8]) async throws {
        let startOp = S3Operation(verb: "CreateMultipartUpload", object: label, permission: "s3:PutObject", limit: 1 << 20)
        let start = try await send(startOp, .POST, key: key, query: [("uploads", "")], headers: uploadHeaders(nil))
        guard start.status == .ok, let uploadID = S3XML.parse(start.body, elements: ["UploadId"])?["UploadId"]?.first, !uploadID.isEmpty else {
            throw failure(start, startOp)
        }
        do {
            var etags = [String]()
            var partMD5s = [UInt8]()
            var offset = 0
            while offset < data.count {
                let part = etags.count + 1
                let piece = Array(data[offset..<min(offset + options.partSize, data.count)])
                let md5 = LibCrypto.md5Base64(piece)
                partMD5s += Array(Data(base64Encoded: md5) ?? Data())
                let partOp = S3Operation(verb: "UploadPart \(part)", object: label, permission: "s3:PutObject", limit: 1 << 20)
                let reply = try await send(partOp, .PUT, key: key, query: [("partNumber", String(part)), ("uploadId", uploadID)],
                                           headers: ["content-md5": md5], body: piece)
                guard reply.status == .ok, let etag = reply.headers.first(name: "ETag") else { throw failure(reply, partOp) }
                etags.append(etag)
                offset += piece.count
            }
            let parts = etags.enumerated().map { "<Part><PartNumber>\($0.offset + 1)</PartNumber><ETag>\($0.element)</ETag></Part>" }.joined()
            let body = Array("<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\(parts)</CompleteMultipartUpload>".utf8)
            let completeOp = S3Operation(verb: "CompleteMultipartUpload", object: label, permission: "s3:PutObject", errorIn200: true, limit: 1 << 20)
            let (done, attempts) = try await sendCounting(completeOp, .POST, key: key, query: [("uploadId", uploadID)], body: body)
            // S3 can report a failed completion inside a 200 reply.
            let code = S3XML.errorCode(done.body)
            if done.status == .ok, code == nil { return }
            // A retry that finds the upload gone: the earlier attempt may have completed and lost its reply.
            if attempts > 1, code == "NoSuchUpload", try await completedEarlier(key, label: label, data, partMD5s: partMD5s, parts: etags.count) {
                return
            }
            throw failure(done, completeOp)
        } catch {
            let abortOp = S3Operation(verb: "AbortMultipartUpload", object: label, permission: "s3:AbortMultipartUpload", limit: 1 << 20)
            _ = try? await send(abortOp, .DELETE, key: key, query: [("uploadId", uploadID)])
            throw error
        }
    }

    /// Whether the object now stored is the one this upload completed: same size, and the ETag S3
    /// gives a multipart object of these parts (MD5 of the part MD5s, then "-N"), or the whole
    /// object's MD5 (what some S3-compatible servers give instead).
    func completedEarlier(_ key: String, label: String, _ data: [UInt8], partMD5s: [UInt8], parts: Int) async throws -> Bool {
        let operation = S3Operation(verb: "HEAD", object: label, permission: "s3:GetObject", limit: 1 << 20)
        let head = try await send(operation, .HEAD, key: key)
        guard head.status == .ok, head.headers.first(name: "Content-Length").flatMap(Int.init) == data.count,
              let etag = head.headers.first(name: "ETag")?.trimmingCharacters(in: CharacterSet(charactersIn: "\"")).lowercased() else {
            return false
        }
        func md5Hex(_ bytes: [UInt8]) -> String { Hex.encode(Array(Data(base64Encoded: LibCrypto.md5Base64(bytes)) ?? Data())) }
        return etag == "\(md5Hex(partMD5s))-\(parts)" || etag == md5Hex(data)
    }

    func abortStaleUploadsOnce() async {
        await cleanup.run { [self] in
            do {
                try await abortStaleUploads()
            } catch {
                let reason = (error as? PlanVaultError)?.localizedDescription ?? "\(error)"
                report("incomplete multipart uploads left by interrupted pushes were not cleared (S3 bills them until they are aborted): \(reason). An AbortIncompleteMultipartUpload lifecycle rule clears them too (see README)")
            }
        }
    }

    /// Aborts the incomplete multipart uploads under the repository's prefix started more than
    /// `staleUploadAge` ago: a live push finishes an upload within minutes, so older ones were
    /// left by a push that was killed. Returns how many were aborted.
    @discardableResult
    func abortStaleUploads() async throws -> Int {
        let prefix = options.prefix.isEmpty ? "" : options.prefix + "/"
        let listOp = S3Operation(verb: "ListMultipartUploads", object: prefix.isEmpty ? bucketLabel : prefix,
                                 permission: "s3:ListBucketMultipartUploads", limit: 16 << 20)
        let iso = ISO8601DateFormatter()
        iso.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        let plain = ISO8601DateFormatter()
        let now = clock()
        var stale = [(key: String, uploadID: String)]()
        var keyMarker: String?, uploadMarker: String?
        var pages = 0
        repeat {
            var query = [("uploads", ""), ("prefix", prefix)]
            if let keyMarker { query.append(("key-marker", keyMarker)) }
            if let uploadMarker { query.append(("upload-id-marker", uploadMarker)) }
            let reply = try await send(listOp, .GET, key: nil, query: query)
            // rclone's S3 server answers NoSuchUpload when there is no upload at all.
            if reply.status == .notFound, S3XML.errorCode(reply.body) == "NoSuchUpload" { break }
            guard reply.status == .ok else { throw failure(reply, listOp) }
            guard let document = S3XML.document(reply.body, elements: ["Key", "UploadId", "Initiated", "IsTruncated", "NextKeyMarker", "NextUploadIdMarker"]),
                  document.root == "ListMultipartUploadsResult" else {
                throw PlanVaultError.backend(location: location, message: "S3 sent an unreadable ListMultipartUploads reply")
            }
            let fields = document.values
            let keys = fields["Key"] ?? [], ids = fields["UploadId"] ?? [], started = fields["Initiated"] ?? []
            guard keys.count == ids.count, keys.count == started.count else {
                throw PlanVaultError.backend(location: location, message: "S3 sent a malformed ListMultipartUploads reply")
            }
            for i in keys.indices where isRepositoryKey(keys[i], prefix: prefix) {
                guard let date = iso.date(from: started[i]) ?? plain.date(from: started[i]) else { continue }
                if now.timeIntervalSince(date) > staleUploadAge { stale.append((keys[i], ids[i])) }
            }
            pages += 1
            let truncated = fields["IsTruncated"]?.first == "true"
            keyMarker = truncated ? fields["NextKeyMarker"]?.first : nil
            uploadMarker = truncated ? fields["NextUploadIdMarker"]?.first : nil
            if truncated && keyMarker == nil {
                throw PlanVaultError.backend(location: location, message: "S3's ListMultipartUploads reply is truncated without a marker")
            }
        } while keyMarker != nil && pages < 1000
        for upload in stale {
            let abortOp = S3Operation(verb: "AbortMultipartUpload", object: String(upload.key.dropFirst(prefix.count)),
                                      permission: "s3:AbortMultipartUpload", limit: 1 << 20)
            let reply = try await send(abortOp, .DELETE, key: upload.key, query: [("uploadId", upload.uploadID)])
            guard reply.status == .noContent || reply.status == .ok || reply.status == .notFound else { throw failure(reply, abortOp) }
        }
        if !stale.isEmpty {
            report("aborted \(stale.count) incomplete multipart upload(s) under \(location) older than \(Int(staleUploadAge / 3600)) h, left by interrupted pushes")
        }
        return stale.count
    }

    /// A key of this repository's layout (`PREFIX/KIND/…/NAME`): uploads of anything else in the bucket are not ours to abort.
    func isRepositoryKey(_ key: String, prefix: String) -> Bool {
        guard key.hasPrefix(prefix) else { return false }
        let parts = key.dropFirst(prefix.count).split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count >= 2, let kind = ObjectKind(rawValue: String(parts[0])), kind != .config, let last = parts.last else { return false }
        return ObjectName.isValid(String(last))
    }
}
