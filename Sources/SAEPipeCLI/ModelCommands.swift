import ArgumentParser
import Foundation
import SAEPipe
import SAEPipeCore
import SAEPipeHub
import SAEPipeModels

struct TokenizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenize", abstract: "Print token ids as JSON (no BOS/EOS added).",
        discussion: """
            Examples:
              saepipe tokenize --model artifacts/models/SmolLM2-135M-Instruct.Q4_1.gguf --text "def f(x):"
              saepipe tokenize --model EleutherAI/pythia-70m-deduped --file notes.txt
            """)

    @Option(help: "A model directory (tokenizer.json), a .gguf file, or a Hub id ORG/NAME[@REV].")
    var model: String
    @Option(help: "Text to tokenize.")
    var text: String?
    @Option(help: "A file whose whole content is one text.")
    var file: String?
    @Option(help: "A JSONL file: one array of ids per line, from --field.")
    var jsonl: String?
    @Option(help: "The JSONL field holding the text.")
    var field: String = "text"

    func validate() throws {
        guard [text, file, jsonl].compactMap({ $0 }).count == 1 else {
            throw ValidationError("give exactly one of --text, --file, --jsonl")
        }
    }

    func run() throws {
        let tokenizer = try Tokenizer.load(
            model: ModelSource.resolve(model, artifacts: "artifacts"))
        if let text {
            print(json(tokenizer.encode(text)))
        } else if let file {
            print(json(tokenizer.encode(try readText(file))))
        } else if let jsonl {
            for (index, line) in try readText(jsonl).split(separator: "\n", omittingEmptySubsequences: false).enumerated()
            where !line.trimmingCharacters(in: .whitespaces).isEmpty {
                let location = SourceLocation(file: jsonl, line: index + 1, column: 1)
                guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
                    throw SAEPipeError.input("line is not a JSON object", at: location)
                }
                guard let value = object[field] as? String else {
                    throw SAEPipeError.input("no string field `\(field)`", at: location, key: field,
                                             hint: "fields here: " + object.keys.sorted().joined(separator: ", "))
                }
                print(json(tokenizer.encode(value)))
            }
        }
    }

    private func readText(_ path: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw SAEPipeError.input("cannot read file", file: path)
        }
        return String(decoding: data, as: UTF8.self)
    }

    private func json(_ ids: [Int]) -> String { "[" + ids.map(String.init).joined(separator: ",") + "]" }
}

struct ForwardCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forward",
        abstract: "Run a model on token ids; write hooks, last_logits and token_nll to safetensors.",
        discussion: """
            Examples:
              saepipe forward --model artifacts/models/SmolLM2-135M-Instruct.Q4_1.gguf --tokens '[[1, 2, 3]]' --hook layers.3.mlp_out --out acts.safetensors
            """)

    @Option(help: "A model directory, a .gguf file, or a Hub id ORG/NAME[@REV].")
    var model: String
    @Option(help: "A JSON list of equal-length lists of token ids.")
    var ids: String
    @Option(name: .customLong("hook"), help: "An activation to save, e.g. layers.3.mlp_out (repeatable).")
    var hooks: [String] = []
    @Option(help: "Output .safetensors file.")
    var out: String
    @Option(help: "Sequences per forward pass.")
    var batchSize = 8
    @OptionGroup var global: GlobalOptions

    func run() throws {
        global.apply()
        let tokens = try ForwardExport.readIds(ids)
        let loaded = try ModelSource.load(model, artifacts: "artifacts")
        try ForwardExport.checkVocabulary(tokens, vocabSize: loaded.dimensions.vocabSize, file: ids)
        let result = try ForwardExport.run(model: loaded, tokens: tokens, hooks: hooks, batchSize: batchSize, to: out)
        let nll = result.tokenNLL ?? []
        let mean = nll.isEmpty ? Double.nan : nll.reduce(0.0) { $0 + Double($1) } / Double(nll.count)
        Console.shared.line(String(format: "wrote %@: %d×%d tokens, mean token NLL %.4f nats", out, tokens.batch, tokens.seqLen, mean))
    }
}

struct ModelCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "model", abstract: "Inspect models.", subcommands: [ModelInfoCommand.self])
}

struct ModelInfoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info", abstract: "Architecture, dimensions, weight types, parameter count and tokenizer.",
        discussion: """
            Examples:
              saepipe model info artifacts/models/SmolLM2-135M-Instruct.Q4_1.gguf
              saepipe model info EleutherAI/pythia-70m-deduped
            """)

    @Argument(help: "A model directory, a .gguf file, or a Hub id ORG/NAME[@REV].")
    var model: String

    func run() throws {
        let path = try ModelSource.resolve(model, artifacts: "artifacts")
        // Embedding and one layer suffice to describe the model; nothing else is decoded.
        let loaded = try LanguageModel.load(path, scope: LoadScope(layers: 1, unembedding: false))
        print(ModelReport.describe(loaded, tokenizer: try? Tokenizer.load(model: path)))
    }
}
