import Crypto
import Foundation

/// A minimal HTTP/1.1 server on 127.0.0.1 that answers like the Hub: the revision API,
/// the resolve endpoint (LFS files redirect to a CDN path with X-Linked-Etag/X-Linked-Size,
/// small files answer directly with a git-sha1 ETag), Range requests, and an optional
/// connection drop mid-body to exercise resume.
final class LocalHubServer: @unchecked Sendable {
    struct HostedFile {
        var content: Data
        var lfs: Bool
    }

    let commit = String(repeating: "ab12", count: 10)
    private(set) var port: UInt16 = 0
    private var listener: Int32 = -1
    private let lock = NSLock()
    private var files: [String: [String: HostedFile]] = [:]  // repo → path → file
    private var requestLog: [String] = []
    /// When set, the next CDN body is cut after this many bytes (the connection is closed).
    var dropNextBodyAfter: Int?
    /// When set, every LFS body is served with this content instead (a corrupt mirror).
    var corruptBodies = false

    var endpoint: String { "http://127.0.0.1:\(port)" }
    var requests: [String] { lock.lock(); defer { lock.unlock() }; return requestLog }

    func host(repo: String, path: String, content: Data, lfs: Bool) {
        lock.lock()
        files[repo, default: [:]][path] = HostedFile(content: content, lfs: lfs)
        lock.unlock()
    }

    func start() throws {
        listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(listener, 16) == 0 else { throw POSIXError(.EADDRINUSE) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
        let thread = Thread { [self] in
            while true {
                let client = accept(listener, nil, nil)
                if client < 0 { return }
                Thread { self.serve(client) }.start()
            }
        }
        thread.start()
    }

    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private func serve(_ client: Int32) {
        defer { close(client) }
        var buffer = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 4096)
        while !buffer.ends(with: Array("\r\n\r\n".utf8)) {
            let count = recv(client, &chunk, chunk.count, 0)
            if count <= 0 { return }
            buffer += chunk[0..<count]
        }
        let lines = String(decoding: buffer, as: UTF8.self).components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ")
        guard parts.count >= 2 else { return }
        // Routing splits the raw target first: revisions such as refs%2Fconvert%2Fparquet hold encoded slashes.
        let (method, target) = (String(parts[0]), String(parts[1]))
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        lock.lock()
        requestLog.append("\(method) \(target)" + (headers["range"].map { " [\($0)]" } ?? ""))
        lock.unlock()
        respond(client, method: method, target: target, range: headers["range"])
    }

    private func respond(_ client: Int32, method: String, target: String, range: String?) {
        lock.lock()
        let hosted = files
        lock.unlock()
        // /parquet?dataset=ORG/NAME — the dataset viewer's listing of a dataset's Parquet conversion.
        if target.hasPrefix("/parquet?dataset=") {
            let id = String(target.dropFirst(17)).removingPercentEncoding ?? ""
            let prefix = "datasets/\(id)@refs/convert/parquet"
            let entries = (hosted[prefix] ?? [:]).keys.sorted().map { path -> [String: Any] in
                let parts = path.split(separator: "/")
                return ["dataset": id, "config": String(parts[0]), "split": String(parts[1]), "filename": String(parts.last!),
                        "url": "\(endpoint)/datasets/\(id)/resolve/refs%2Fconvert%2Fparquet/\(path)", "size": hosted[prefix]![path]!.content.count]
            }
            let body = try! JSONSerialization.data(withJSONObject: ["parquet_files": entries, "pending": [], "failed": [], "partial": false])
            return send(client, 200, ["Content-Type": "application/json"], body, method)
        }
        // /api/{models,datasets}/ORG/NAME/revision/REV
        if target.hasPrefix("/api/models/") || target.hasPrefix("/api/datasets/"), let marker = target.range(of: "/revision/") {
            let isDataset = target.hasPrefix("/api/datasets/")
            let name = String(target[target.index(target.startIndex, offsetBy: isDataset ? 14 : 12)..<marker.lowerBound])
            let repo = isDataset ? "datasets/\(name)@\(target[marker.upperBound...].removingPercentEncoding ?? "")" : name
            guard let repoFiles = hosted[repo] else { return send(client, 404, [:], Data("{}".utf8), method) }
            let siblings = repoFiles.keys.sorted().map { ["rfilename": $0] }
            let body = try! JSONSerialization.data(withJSONObject: ["sha": commit, "siblings": siblings])
            return send(client, 200, ["Content-Type": "application/json"], body, method)
        }
        // /ORG/NAME/resolve/REV/PATH and /datasets/ORG/NAME/resolve/REV/PATH
        let isDataset = target.hasPrefix("/datasets/")
        let pieces = (isDataset ? String(target.dropFirst(9)) : target).split(separator: "/", maxSplits: 4).map {
            $0.removingPercentEncoding ?? String($0)
        }
        if pieces.count == 5, pieces[2] == "resolve" {
            let repo = isDataset ? "datasets/\(pieces[0])/\(pieces[1])@\(pieces[3])" : "\(pieces[0])/\(pieces[1])"
            guard let file = hosted[repo]?[pieces[4]] else { return send(client, 404, [:], Data(), method) }
            if file.lfs {
                let sha = SHA256.hash(data: file.content).map { String(format: "%02x", $0) }.joined()
                return send(client, 302, [
                    "Location": "\(endpoint)/cdn/\(sha)", "X-Repo-Commit": commit, "X-Linked-Etag": "\"\(sha)\"",
                    "X-Linked-Size": "\(file.content.count)", "ETag": "W/\"redirect\"",
                ], Data(), method)
            }
            var hasher = Insecure.SHA1()
            hasher.update(data: Data("blob \(file.content.count)\0".utf8))
            hasher.update(data: file.content)
            let sha1 = hasher.finalize().map { String(format: "%02x", $0) }.joined()
            return send(client, 200, ["X-Repo-Commit": commit, "ETag": "\"\(sha1)\""], file.content, method)
        }
        // /cdn/SHA256
        if target.hasPrefix("/cdn/") {
            let sha = String(target.dropFirst(5))
            let all = hosted.values.flatMap(\.values)
            guard var content = all.first(where: {
                SHA256.hash(data: $0.content).map { String(format: "%02x", $0) }.joined() == sha
            })?.content else { return send(client, 404, [:], Data(), method) }
            if corruptBodies { content = Data(content.reversed()) }
            var status = 200
            var extra: [String: String] = ["Accept-Ranges": "bytes"]
            if let range, range.hasPrefix("bytes="), let start = Int(range.dropFirst(6).split(separator: "-").first ?? "") {
                guard start < content.count else { return send(client, 416, [:], Data(), method) }
                extra["Content-Range"] = "bytes \(start)-\(content.count - 1)/\(content.count)"
                content = content.subdata(in: start..<content.count)
                status = 206
            }
            lock.lock()
            let cut = dropNextBodyAfter
            dropNextBodyAfter = nil
            lock.unlock()
            return send(client, status, extra, content, method, cutAfter: cut)
        }
        send(client, 404, [:], Data(), method)
    }

    private func send(_ client: Int32, _ status: Int, _ headers: [String: String], _ body: Data, _ method: String,
                      cutAfter: Int? = nil) {
        let reasons = [200: "OK", 206: "Partial Content", 302: "Found", 404: "Not Found", 416: "Range Not Satisfiable"]
        var head = "HTTP/1.1 \(status) \(reasons[status] ?? "Status")\r\nContent-Length: \(body.count)\r\nConnection: close\r\n"
        for (name, value) in headers { head += "\(name): \(value)\r\n" }
        head += "\r\n"
        var bytes = Data(head.utf8)
        if method != "HEAD" { bytes.append(cutAfter.map { body.prefix($0) } ?? body) }
        bytes.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let sent = Foundation.send(client, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if sent <= 0 { return }
                offset += sent
            }
        }
        if cutAfter != nil { shutdown(client, Int32(SHUT_RDWR)) }
    }
}

private extension Array where Element == UInt8 {
    func ends(with suffix: [UInt8]) -> Bool { count >= suffix.count && Array(self[(count - suffix.count)...]) == suffix }
}
