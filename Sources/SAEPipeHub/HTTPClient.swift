import Foundation
import SAEPipeCore

#if canImport(FoundationNetworking)
    import FoundationNetworking
#endif

/// A blocking HTTP client that never follows redirects on its own (the Hub puts file
/// metadata on the redirect response) and streams bodies to a sink.
public final class HTTPClient: @unchecked Sendable {
    public struct Response: Sendable {
        public var status: Int
        /// Header names lowercased.
        public var headers: [String: String]
        public var url: URL

        public func header(_ name: String) -> String? { headers[name.lowercased()] }
    }

    public var timeout: TimeInterval = 30
    public var userAgent = "saepipe/\(SAEPipeVersion.current)"
    public var token: String?

    public init(token: String? = nil) {
        self.token = token
    }

    /// Performs one request. `onData` receives body chunks as they arrive (for streaming to a file);
    /// without it the body is returned.
    @discardableResult
    public func send(
        _ method: String, _ url: URL, headers: [String: String] = [:], onResponse: ((Response) throws -> Void)? = nil,
        onData: ((Data) throws -> Void)? = nil
    ) throws -> (Response, Data) {
        var request = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: timeout)
        request.httpMethod = method
        request.setValue(userAgent, forHTTPHeaderField: "User-Agent")
        request.setValue("identity", forHTTPHeaderField: "Accept-Encoding")
        if let token { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }

        let delegate = TaskDelegate(onResponse: onResponse, onData: onData)
        let session = URLSession(configuration: .ephemeral, delegate: delegate, delegateQueue: nil)
        defer { session.finishTasksAndInvalidate() }
        session.dataTask(with: request).resume()
        delegate.done.wait()
        if let failure = delegate.failure { throw failure }
        guard let response = delegate.response else {
            throw SAEPipeError.runtime("no response from \(url.absoluteString)")
        }
        return (response, delegate.body)
    }
}

/// Collects one task's response; `done` is signalled when it completes.
private final class TaskDelegate: NSObject, URLSessionDataDelegate, @unchecked Sendable {
    let done = DispatchSemaphore(value: 0)
    let onResponse: ((HTTPClient.Response) throws -> Void)?
    let onData: ((Data) throws -> Void)?
    var response: HTTPClient.Response?
    var body = Data()
    var failure: Error?

    init(onResponse: ((HTTPClient.Response) throws -> Void)?, onData: ((Data) throws -> Void)?) {
        self.onResponse = onResponse
        self.onData = onData
    }

    func urlSession(
        _ session: URLSession, task: URLSessionTask, willPerformHTTPRedirection response: HTTPURLResponse,
        newRequest request: URLRequest, completionHandler: @escaping @Sendable (URLRequest?) -> Void
    ) {
        completionHandler(nil)
    }

    func urlSession(
        _ session: URLSession, dataTask: URLSessionDataTask, didReceive response: URLResponse,
        completionHandler: @escaping @Sendable (URLSession.ResponseDisposition) -> Void
    ) {
        record(response)
        do {
            if let onResponse, let response = self.response { try onResponse(response) }
            completionHandler(.allow)
        } catch {
            failure = error
            completionHandler(.cancel)
        }
    }

    func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
        guard failure == nil else { return }
        do {
            if let onData { try onData(data) } else { body.append(data) }
        } catch {
            failure = error
            dataTask.cancel()
        }
    }

    func urlSession(_ session: URLSession, task: URLSessionTask, didCompleteWithError error: Error?) {
        if response == nil, let received = task.response { record(received) }
        if failure == nil, let error {
            let url = task.originalRequest?.url?.absoluteString ?? "?"
            failure = SAEPipeError.runtime("cannot fetch \(url): \(error.localizedDescription)")
        }
        done.signal()
    }

    private func record(_ response: URLResponse) {
        guard let http = response as? HTTPURLResponse else { return }
        var headers: [String: String] = [:]
        for (name, value) in http.allHeaderFields {
            headers[String(describing: name).lowercased()] = String(describing: value)
        }
        self.response = HTTPClient.Response(status: http.statusCode, headers: headers, url: http.url ?? URL(string: "about:blank")!)
    }
}
