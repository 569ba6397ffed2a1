import Crypto
import Foundation
import SAEPipeCore

/// Fetches files from the Hub into the shared cache: metadata from the resolve endpoint,
/// resumable downloads, size and hash checks, offline mode.
public struct HubClient: Sendable {
    public var cache: HubCache
    public var endpoint: String
    public var offline: Bool
    public var http: HTTPClient
    public var console: Console

    public init(cache: HubCache, endpoint: String = "https://huggingface.co", offline: Bool = false,
                token: String? = nil, console: Console = .shared) {
        self.cache = cache
        self.endpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        self.offline = offline
        self.http = HTTPClient(token: token)
        self.console = console
    }

    /// Honors HF_HOME / HF_HUB_CACHE, HF_ENDPOINT, HF_HUB_OFFLINE and HF_TOKEN like huggingface_hub.
    public static func fromEnvironment(artifacts: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> HubClient {
        let offline = ["1", "true", "yes", "on"].contains((environment["HF_HUB_OFFLINE"] ?? "").lowercased())
        return HubClient(
            cache: .fromEnvironment(artifacts: artifacts, environment: environment),
            endpoint: environment["HF_ENDPOINT"].flatMap { $0.isEmpty ? nil : $0 } ?? "https://huggingface.co",
            offline: offline, token: environment["HF_TOKEN"].flatMap { $0.isEmpty ? nil : $0 })
    }

    /// What the resolve endpoint reports about one file.
    public struct FileMetadata: Sendable {
        public var commit: String
        /// sha256 for LFS files, the git blob sha1 otherwise.
        public var etag: String
        public var size: Int
        public var location: URL
    }

    // MARK: - Listing

    /// The files of a revision (`/api/models/ORG/NAME/revision/REV`) and the commit it points to.
    public func listFiles(_ repo: HubRepo) throws -> (commit: String, files: [String]) {
        try ensureOnline(repo, missing: "the file list")
        let kind = repo.kind == .model ? "models" : "datasets"
        let url = try makeURL("\(endpoint)/api/\(kind)/\(repo.id)/revision/\(escape(repo.revision))")
        let (response, body) = try request(repo, "GET", url, missing: "the file list")
        try check(response, repo, what: "the file list")
        guard let json = (try? JSONSerialization.jsonObject(with: body)) as? [String: Any],
            let commit = json["sha"] as? String, let siblings = json["siblings"] as? [[String: Any]]
        else {
            throw SAEPipeError.runtime("the Hub's file list for \(repo) is not in the expected shape", file: url.absoluteString)
        }
        return (commit, siblings.compactMap { $0["rfilename"] as? String })
    }

    /// Any JSON document from the Hub API (a path under the endpoint) or another service (a full URL).
    public func json(_ path: String, repo: HubRepo) throws -> Any {
        try json(url: "\(endpoint)/\(path)", repo: repo)
    }

    public func json(url text: String, repo: HubRepo) throws -> Any {
        try ensureOnline(repo, missing: text)
        let url = try makeURL(text)
        let (response, body) = try request(repo, "GET", url, missing: "the listing \(text)")
        try check(response, repo, what: text)
        guard let json = try? JSONSerialization.jsonObject(with: body) else {
            throw SAEPipeError.runtime("no JSON from \(text)", file: url.absoluteString)
        }
        return json
    }

    // MARK: - Files

    /// The local path of `file` at the repo's revision, downloading it when the cache lacks it.
    public func file(_ repo: HubRepo, _ file: String) throws -> String {
        if let cached = cache.cachedFile(repo, file) { return cached }
        try ensureOnline(repo, missing: file)
        let metadata = try metadata(repo, file)
        let blob = cache.blobPath(repo, etag: metadata.etag)
        if FileSystem.fileSize(blob) != UInt64(metadata.size) {
            try download(repo, file, metadata, to: blob)
        }
        try cache.writeRef(repo, commit: metadata.commit)
        return try cache.link(repo, commit: metadata.commit, file: file, etag: metadata.etag)
    }

    /// HEAD on the resolve URL. The Hub answers LFS files with a redirect to its CDN that
    /// carries X-Linked-Etag/X-Linked-Size; relative redirects (renamed repos) are followed.
    public func metadata(_ repo: HubRepo, _ file: String) throws -> FileMetadata {
        var url = try makeURL("\(endpoint)/\(repo.urlPrefix)/resolve/\(escape(repo.revision))/\(escapePath(file))")
        for _ in 0..<5 {
            let (response, _) = try request(repo, "HEAD", url, missing: file)
            if (300..<400).contains(response.status), let location = response.header("Location"),
                URL(string: location)?.host == nil
            {
                url = try makeURL(location, relativeTo: url)
                continue
            }
            if !(300..<400).contains(response.status) { try check(response, repo, what: file) }
            let etag = normalizeETag(response.header("X-Linked-Etag") ?? response.header("ETag") ?? "")
            let size = Int(response.header("X-Linked-Size") ?? response.header("Content-Length") ?? "")
            guard let commit = response.header("X-Repo-Commit"), !etag.isEmpty, let size else {
                throw SAEPipeError.runtime(
                    "the Hub gave no commit, ETag or size for \(file) of \(repo)", file: url.absoluteString,
                    hint: "check HF_ENDPOINT: it must point at the Hub or a mirror that sends these headers")
            }
            let location = response.header("Location").flatMap { URL(string: $0, relativeTo: url)?.absoluteURL } ?? url
            return FileMetadata(commit: commit, etag: etag, size: size, location: location)
        }
        throw SAEPipeError.runtime("too many redirects resolving \(file) of \(repo)", file: url.absoluteString)
    }

    /// Streams into `blob.incomplete`, resuming from its current size, then checks size and hash.
    func download(_ repo: HubRepo, _ file: String, _ metadata: FileMetadata, to blob: String) throws {
        try FileSystem.createDirectory(FileSystem.parent(of: blob))
        let lock = try FileLock(path: blob + ".lock")
        defer { lock.release() }
        if FileSystem.fileSize(blob) == UInt64(metadata.size) { return }  // another process finished it
        let partial = blob + ".incomplete"
        if !FileSystem.exists(partial) { FileManager.default.createFile(atPath: partial, contents: nil) }
        guard let handle = FileHandle(forWritingAtPath: partial) else {
            throw SAEPipeError.runtime("cannot write \(partial)", file: partial)
        }
        defer { try? handle.close() }
        var have = Int(try handle.seekToEnd())
        if have > metadata.size {
            try handle.truncate(atOffset: 0)
            have = 0
        }
        if have < metadata.size {
            let progress = Progress("download \(file)", total: metadata.size, unit: "B", console: console)
            progress.advance(by: have)
            defer { progress.finish() }
            var url = metadata.location
            var redirects = 0
            var status = 0
            while true {
                let (response, _) = try request(
                    repo, "GET", url, headers: have > 0 ? ["Range": "bytes=\(have)-"] : [:], missing: file,
                    onResponse: { response in
                        status = response.status
                        if response.status == 200, have > 0 {  // server ignored the range: start over
                            try handle.truncate(atOffset: 0)
                            progress.advance(by: -have)
                            have = 0
                        }
                    },
                    onData: { data in
                        if status == 200 || status == 206 {  // not the body of a redirect or an error
                            try SAEPipeError.naming("write", partial) { try handle.write(contentsOf: data) }
                            have += data.count
                            progress.advance(by: data.count)
                        }
                    })
                if (300..<400).contains(response.status), let location = response.header("Location"), redirects < 10 {
                    url = try makeURL(location, relativeTo: url)
                    redirects += 1
                    continue
                }
                if response.status == 416, have == metadata.size { break }
                try check(response, repo, what: file)
                break
            }
        }
        try SAEPipeError.naming("write", partial) { try handle.synchronize() }
        guard have == metadata.size else {
            throw SAEPipeError.runtime(
                "download of \(file) from \(repo) stopped at \(have) of \(metadata.size) bytes", file: partial,
                hint: "run the command again: the download resumes where it stopped")
        }
        let actual = try Self.contentHash(of: partial, like: metadata.etag)
        guard actual == metadata.etag else {
            FileSystem.remove(partial)
            throw SAEPipeError.runtime(
                "\(file) from \(repo) is corrupt: hash \(actual), the Hub reports \(metadata.etag)", file: blob,
                hint: "run the command again to download it afresh")
        }
        try FileSystem.rename(from: partial, to: blob)
    }

    /// sha256 when the ETag is 64 hex digits (LFS), the git blob sha1 when it is 40.
    static func contentHash(of path: String, like etag: String) throws -> String {
        if etag.count == 64 { return try Hashing.sha256Hex(fileAt: path) }
        guard etag.count == 40 else { return etag }  // an opaque ETag cannot be checked
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw SAEPipeError.runtime("cannot open file to hash it", file: path)
        }
        defer { try? handle.close() }
        var hasher = Insecure.SHA1()
        hasher.update(data: Data("blob \(FileSystem.fileSize(path) ?? 0)\0".utf8))
        while let chunk = try handle.read(upToCount: 4 << 20), !chunk.isEmpty { hasher.update(data: chunk) }
        return hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }

    // MARK: - Helpers

    private func ensureOnline(_ repo: HubRepo, missing: String) throws {
        guard offline else { return }
        throw SAEPipeError.input(
            "\(missing) of \(repo) is not in the Hub cache (\(cache.repoFolder(repo))) and HF_HUB_OFFLINE is set",
            hint: "unset HF_HUB_OFFLINE to download it, or copy the files into that cache")
    }

    private func request(
        _ repo: HubRepo, _ method: String, _ url: URL, headers: [String: String] = [:], missing: String,
        onResponse: ((HTTPClient.Response) throws -> Void)? = nil, onData: ((Data) throws -> Void)? = nil
    ) throws -> (HTTPClient.Response, Data) {
        do {
            return try http.send(method, url, headers: headers, onResponse: onResponse, onData: onData)
        } catch let error as SAEPipeError {
            var error = error
            error.message += "; \(missing) of \(repo) is not in the Hub cache (\(cache.repoFolder(repo)))"
            error.hint = error.hint ?? "connect to the network (or set HF_ENDPOINT to a mirror), then run again"
            throw error
        }
    }

    private func check(_ response: HTTPClient.Response, _ repo: HubRepo, what: String) throws {
        switch response.status {
        case 200..<300: return
        case 401, 403:
            throw SAEPipeError.input("the Hub refused access to \(what) of \(repo) (HTTP \(response.status))",
                                     hint: "the repo may be gated or private: accept its terms and set HF_TOKEN")
        case 404:
            throw SAEPipeError.input("\(what) not found in \(repo) (HTTP 404)", file: response.url.absoluteString,
                                     hint: "check the repo id, the revision and the file name")
        default:
            throw SAEPipeError.runtime("the Hub answered HTTP \(response.status) for \(what) of \(repo)",
                                       file: response.url.absoluteString, hint: "try again later")
        }
    }

    private func normalizeETag(_ raw: String) -> String {
        var tag = raw.trimmingCharacters(in: .whitespaces)
        if tag.hasPrefix("W/") { tag.removeFirst(2) }
        return tag.trimmingCharacters(in: CharacterSet(charactersIn: "\""))
    }

    private func makeURL(_ text: String, relativeTo base: URL? = nil) throws -> URL {
        guard let url = URL(string: text, relativeTo: base)?.absoluteURL else {
            throw SAEPipeError.input("invalid URL \(text)", hint: "check HF_ENDPOINT")
        }
        return url
    }

    private func escape(_ component: String) -> String {
        component.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-_."))) ?? component
    }

    private func escapePath(_ path: String) -> String {
        path.split(separator: "/").map { escape(String($0)) }.joined(separator: "/")
    }
}

