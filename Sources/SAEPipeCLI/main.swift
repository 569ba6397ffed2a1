import ArgumentParser
import Foundation
import SAEPipe
import SAEPipeCore

Console.shared.bootstrapLogging()
Interruption.shared.install()
do {
    var command = try SAEPipeCommand.parseAsRoot(CLIArguments.normalize(Array(CommandLine.arguments.dropFirst())))
    try command.run()
} catch let error as SAEPipeError {
    Console.shared.error("saepipe: " + error.description)
    exit(error.exitCode)
} catch let error as NSError where [NSCocoaErrorDomain, NSPOSIXErrorDomain].contains(error.domain) {
    let converted = SAEPipeError.fromSystem(error)
    Console.shared.error("saepipe: " + converted.description)
    exit(converted.exitCode)
} catch {
    let code = SAEPipeCommand.exitCode(for: error)
    let message = SAEPipeCommand.fullMessage(for: error)
    if code == .success {
        print(message)
        exit(0)
    }
    if !message.isEmpty { Console.shared.error(message) }
    // Usage errors exit 2, like config errors (argument-parser's default is 64).
    exit(code == .validationFailure ? 2 : code.rawValue)
}
