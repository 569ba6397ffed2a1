import ArgumentParser
import Foundation
import SAEPipe
import SAEPipeCore
import SAEPipeServe

struct ServeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve", abstract: "Serve a finished run's feature browser locally, with \"test your text\".",
        discussion: """
            Loads the run's model and SAEs once and serves the feature browser (as `saepipe export` \
            writes it) plus an API: POST /api/activations with {"text": …} gives each token's most \
            active features in each SAE; GET /api/features/{sae}/{id} gives a feature's data. Binds to \
            127.0.0.1 unless --host says otherwise; Ctrl-C stops it.

            Examples:
              saepipe serve default
              saepipe serve outputs/default --port 9000
            """)

    @Argument(help: "A run name under outputs/, or a run directory.", completion: Completions.runNames)
    var runName: String
    @Option(help: "The port to listen on (0: any free port).")
    var port = 8080
    @Option(help: "The address to bind to; 0.0.0.0 serves other machines too.")
    var host = "127.0.0.1"
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard (0...65535).contains(port) else { throw ValidationError("--port must be 0–65535, not \(port)") }
    }

    func run() throws {
        global.apply()
        let (runName, host, port) = (self.runName, self.host, self.port)
        try blockingRun { try await FeatureServer.serve(run: runName, host: host, port: port) }
    }
}

/// Runs async work from a synchronous command, waiting for it to finish.
private func blockingRun(_ work: @escaping @Sendable () async throws -> Void) throws {
    final class Outcome: @unchecked Sendable { var error: Error? }
    let outcome = Outcome(), done = DispatchSemaphore(value: 0)
    Task {
        do { try await work() } catch { outcome.error = error }
        done.signal()
    }
    done.wait()
    if let error = outcome.error { throw error }
}
