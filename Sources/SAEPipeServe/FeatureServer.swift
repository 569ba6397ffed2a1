import Foundation
import Hummingbird
import Logging
import SAEPipe
import SAEPipeCore
import SAEPipeEngine

/// `saepipe serve RUN`: the feature browser plus "test your text" over HTTP. The model and SAEs
/// load once; requests are served concurrently, model passes one at a time off the server's
/// threads; SIGINT or SIGTERM stops it gracefully.
public enum FeatureServer {
    /// Builds the application: static browser files from `browser`, the API from `service`.
    public static func application(
        service: FeatureService, browser: String, host: String, port: Int, logger: Logger,
        onRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let router = Router()
        router.add(middleware: RequestLog(logger: logger))
        router.add(middleware: FileMiddleware(browser, searchForIndexHtml: true, logger: logger))
        let compute = DispatchQueue(label: "saepipe.serve.compute")
        router.post("api/activations") { request, _ -> Response in
            var request = request
            let body: Data
            do {
                body = Data(try await request.collectBody(upTo: FeatureService.maxRequestBytes).readableBytesView)
            } catch {
                return response(FeatureService.errorReply(413, "the request is over \(FeatureService.maxRequestBytes) bytes"))
            }
            let reply = await withCheckedContinuation { continuation in
                compute.async { continuation.resume(returning: service.activations(body: body)) }
            }
            return response(reply)
        }
        router.get("api/features/:sae/:id") { _, context -> Response in
            response(service.feature(sae: context.parameters.get("sae") ?? "", id: context.parameters.get("id") ?? ""))
        }
        router.get("api/**") { request, _ -> Response in
            response(FeatureService.errorReply(404, "no API endpoint \(request.uri.path)"))
        }
        return Application(
            router: router, configuration: .init(address: .hostname(host, port: port), serverName: "saepipe"),
            onServerRunning: { channel in await onRunning(channel.localAddress?.port ?? port) }, logger: logger)
    }

    static func response(_ reply: FeatureService.Reply) -> Response {
        Response(status: HTTPResponse.Status(code: reply.status), headers: [.contentType: "application/json; charset=utf-8"],
                 body: ResponseBody(byteBuffer: ByteBuffer(bytes: reply.body)))
    }

    /// Loads the run, builds the browser into a temporary directory and serves until SIGINT or SIGTERM.
    public static func serve(run: String, host: String, port: Int, artifacts: String = "artifacts") async throws {
        let directory = try BlogExport.runDirectory(run)
        let started = Date()
        Console.shared.line("loading \(directory): the model, its SAEs and their features…")
        let probe = try ActivationProbe(runDirectory: directory, artifacts: artifacts)
        let service = try FeatureService(runDirectory: directory, probe: probe)
        let browser = FileManager.default.temporaryDirectory.path + "/saepipe-serve-\(ProcessInfo.processInfo.processIdentifier)"
        FileSystem.remove(browser)
        try FileSystem.createDirectory(browser)
        defer { FileSystem.remove(browser) }
        try FeatureBrowserBundle.write(runDirectory: directory, manifest: try RunManifest.read(runDirectory: directory),
                                       results: try EvalResults.read(runDirectory: directory), tokenizer: probe.tokenizer, to: browser)
        Console.shared.line("ready in \(String(format: "%.1f", Date().timeIntervalSince(started))) s; texts up to \(probe.maxTokens) tokens")
        var logger = Logger(label: "saepipe.serve")
        logger.logLevel = .info
        // The server shuts down gracefully on the signals; saepipe's own handlers would exit at once.
        Interruption.shared.uninstall()
        let app = application(service: service, browser: browser, host: host, port: port, logger: logger) { bound in
            Console.shared.line("serving http://\(host.contains(":") ? "[\(host)]" : host):\(bound)/ (Ctrl-C stops)")
        }
        try await app.runService()
        Console.shared.line("stopped")
    }
}

/// One line per request: method, path, status and time taken (errors thrown by a handler included).
struct RequestLog<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        func log(_ status: String) {
            let elapsed = ContinuousClock.now - started
            let ms = Double(elapsed.components.seconds) * 1000 + Double(elapsed.components.attoseconds) / 1e15
            logger.info("\(request.method.rawValue) \(request.uri.path) \(status) \(String(format: "%.1f", ms)) ms")
        }
        do {
            let response = try await next(request, context)
            log("\(response.status.code)")
            return response
        } catch let error as HTTPResponseError {
            log("\(error.status.code)")
            throw error
        } catch {
            log("error")
            throw error
        }
    }
}

