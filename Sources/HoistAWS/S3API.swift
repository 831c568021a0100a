import Foundation
import NIOHTTP1

/// The S3 calls a deploy of a large zip needs: a bucket of the account's own, and objects in it.
/// Path-style addressing (`/bucket/key`), which every endpoint (AWS, moto, others) answers.
///
/// ```swift
/// let s3 = S3API(client: AWSClient(config: config))
/// try await s3.ensureBucket("hoist-123456789012-us-east-1")
/// try await s3.putObject(bucket: "hoist-123456789012-us-east-1", key: "lambda/summer.zip", body: zip)
/// ```
public struct S3API: Sendable {
    public let client: AWSClient

    public init(client: AWSClient) { self.client = client }

    /// `CreateBucket` in the client's region; a bucket this account owns already is fine.
    public func ensureBucket(_ name: String) async throws {
        // us-east-1 takes no location constraint; every other region needs its own.
        let body = client.region == "us-east-1" ? "" : """
        <CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LocationConstraint>\(client.region)</LocationConstraint></CreateBucketConfiguration>
        """
        do {
            _ = try await client.send(AWSRequest(service: .s3, method: .PUT, path: "/\(name)", body: Array(body.utf8)))
        } catch let error as AWSError where error.code == "BucketAlreadyOwnedByYou" {
            return
        }
    }

    /// `PutObject`.
    public func putObject(bucket: String, key: String, body: Data) async throws {
        _ = try await client.send(AWSRequest(service: .s3, method: .PUT, path: "/\(bucket)/\(key)",
                                             headers: ["Content-Type": "application/zip"], body: Array(body), timeout: .seconds(600)))
    }

    /// `HeadObject`: whether the object exists.
    public func objectExists(bucket: String, key: String) async throws -> Bool {
        do {
            _ = try await client.send(AWSRequest(service: .s3, method: .HEAD, path: "/\(bucket)/\(key)"))
            return true
        } catch let error as AWSError where error.statusCode == 404 {
            return false
        }
    }

    /// `DeleteObject`; a missing object is not an error (S3 answers 204 either way).
    public func deleteObject(bucket: String, key: String) async throws {
        _ = try await client.send(AWSRequest(service: .s3, method: .DELETE, path: "/\(bucket)/\(key)"))
    }
}
