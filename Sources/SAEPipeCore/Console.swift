import Foundation
import Logging

/// How chatty saepipe is, and whether stderr is a terminal. Set once by the CLI.
public final class Console: @unchecked Sendable {
    public enum Verbosity: Int, Sendable, Comparable {
        case quiet = 0, normal = 1, verbose = 2
        public static func < (a: Verbosity, b: Verbosity) -> Bool { a.rawValue < b.rawValue }
    }

    public static let shared = Console()

    private let lock = NSLock()
    private var _verbosity: Verbosity = .normal
    /// Progress bars redraw in place only on a terminal; elsewhere they print periodic lines.
    public let isTerminal: Bool = isatty(STDERR_FILENO) == 1
    /// The line a live progress bar occupies, so log lines can clear it first.
    private var liveLine = false

    public init(verbosity: Verbosity = .normal) {
        _verbosity = verbosity
    }

    public var verbosity: Verbosity {
        get { lock.lock(); defer { lock.unlock() }; return _verbosity }
        set { lock.lock(); _verbosity = newValue; lock.unlock() }
    }

    /// Writes one line to stderr, clearing a live progress bar first.
    public func line(_ text: String, minimum: Verbosity = .normal) {
        guard verbosity >= minimum else { return }
        lock.lock()
        defer { lock.unlock() }
        var output = ""
        if liveLine { output += "\r\u{1B}[2K"; liveLine = false }
        output += text + "\n"
        FileHandle.standardError.write(Data(output.utf8))
    }

    /// Always printed, whatever the verbosity (errors).
    public func error(_ text: String) {
        lock.lock()
        defer { lock.unlock() }
        var output = ""
        if liveLine { output += "\r\u{1B}[2K"; liveLine = false }
        FileHandle.standardError.write(Data((output + text + "\n").utf8))
    }

    func redraw(_ text: String) {
        guard verbosity >= .normal else { return }
        lock.lock()
        defer { lock.unlock() }
        FileHandle.standardError.write(Data(("\r\u{1B}[2K" + text).utf8))
        liveLine = true
    }

    func endLive() {
        lock.lock()
        defer { lock.unlock() }
        if liveLine {
            FileHandle.standardError.write(Data("\n".utf8))
            liveLine = false
        }
    }

    /// Routes swift-log through this console; call once at start-up.
    public func bootstrapLogging() {
        LoggingSystem.bootstrap { label in ConsoleLogHandler(label: label, console: Console.shared) }
    }
}

/// A swift-log handler that prints `[label] message` on stderr, honouring --quiet/--verbose.
public struct ConsoleLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level {
        get {
            switch console.verbosity {
            case .quiet: return .warning
            case .normal: return .info
            case .verbose: return .debug
            }
        }
        set {}
    }
    let label: String
    let console: Console

    public init(label: String, console: Console) {
        self.label = label
        self.console = console
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        let prefix = event.level >= .warning ? "\(event.level): " : ""
        let text = "[\(label)] \(prefix)\(event.message)"
        if event.level >= .warning { console.error(text) } else { console.line(text, minimum: .quiet) }
    }
}

/// A progress bar for long loops: items/s and ETA, redrawn at most 10 times a second
/// on a terminal; a plain line every `plainInterval` seconds otherwise.
public final class Progress: @unchecked Sendable {
    private let label: String
    private let total: Int?
    private let unit: String
    private let console: Console
    private let start = Date()
    private let plainInterval: TimeInterval
    private let lock = NSLock()
    private var done = 0
    private var lastDraw = Date.distantPast
    private var finished = false
    /// Live figures shown after the rate (e.g. loss and L0 while training).
    private var detail: String?
    /// The caller's own estimate of the time left, when it knows better than the rate.
    private var secondsLeft: Double?
    /// Work done before this process started (a resumed run): not part of the rate.
    private var skipped = 0
    /// (time, items) samples the ETA's recent rate is measured over.
    private var samples: [(time: Date, done: Int)] = []

    public init(_ label: String, total: Int?, unit: String = "it", console: Console = .shared,
                plainInterval: TimeInterval = 10) {
        self.label = label
        self.total = total
        self.unit = unit
        self.console = console
        self.plainInterval = plainInterval
    }

    public var completed: Int { lock.lock(); defer { lock.unlock() }; return done }

    /// Counts `count` items as done before this process (a resumed run): the bar starts there
    /// and the rate and ETA only count what this process does.
    public func skip(_ count: Int) {
        lock.lock()
        done += count
        skipped += count
        lock.unlock()
    }

    public func advance(by count: Int = 1, detail newDetail: String? = nil, secondsLeft newEstimate: Double? = nil) {
        lock.lock()
        done += count
        if let newDetail { detail = newDetail }
        if let newEstimate { secondsLeft = newEstimate }
        let now = Date()
        if samples.isEmpty { samples.append((start, skipped)) }
        if now.timeIntervalSince(samples.last!.time) >= 1 { samples.append((now, done)) }
        let due = now.timeIntervalSince(lastDraw) >= (console.isTerminal ? 0.1 : plainInterval)
        if due { lastDraw = now }
        let snapshot = done
        lock.unlock()
        if due { draw(snapshot, final: false) }
    }

    /// Items per second over the recent past (the last third of the time so far, at least 10 s):
    /// start-up and early slow steps stop counting, so the ETA follows the current pace.
    static func recentRate(_ samples: [(time: Date, done: Int)], now: Date, done: Int) -> Double {
        guard let first = samples.first else { return 0 }
        let elapsed = now.timeIntervalSince(first.time)
        let window = max(10, elapsed / 3)
        let base = samples.last { now.timeIntervalSince($0.time) >= window } ?? first
        let seconds = now.timeIntervalSince(base.time)
        return seconds > 0 ? Double(done - base.done) / seconds : 0
    }

    public func finish() {
        lock.lock()
        guard !finished else { lock.unlock(); return }
        finished = true
        let snapshot = done
        lock.unlock()
        draw(snapshot, final: true)
        if console.isTerminal { console.endLive() }
    }

    /// Items per second so far.
    public var rate: Double {
        let elapsed = Date().timeIntervalSince(start)
        return elapsed > 0 ? Double(completed) / elapsed : 0
    }

    private func draw(_ count: Int, final: Bool) {
        let now = Date()
        let elapsed = now.timeIntervalSince(start)
        lock.lock()
        let (recent, detail, skipped, estimate) = (Progress.recentRate(samples, now: now, done: count), self.detail, self.skipped, secondsLeft)
        lock.unlock()
        let rate = elapsed > 0 ? Double(count - skipped) / elapsed : 0
        var text = "\(label) "
        if let total, total > 0 {
            let fraction = min(1, Double(count) / Double(total))
            if console.isTerminal {
                let width = 24
                let filled = Int(fraction * Double(width))
                text += "[" + String(repeating: "█", count: filled) + String(repeating: "·", count: width - filled) + "] "
            }
            text += String(format: "%3.0f%% %@/%@ %@", fraction * 100, Progress.compact(count), Progress.compact(total), unit)
            text += " \(Progress.rate(final ? rate : recent)) \(unit)/s"
            if !final, let estimate {
                text += " ETA " + Progress.duration(estimate)
            } else if !final, recent > 0 {
                text += " ETA " + Progress.duration(Double(total - count) / recent)
            } else if final {
                text += " in " + Progress.duration(elapsed)
            }
        } else {
            text += "\(Progress.compact(count)) \(unit) \(Progress.rate(rate)) \(unit)/s"
        }
        if let detail { text += " · " + detail }
        if console.isTerminal { console.redraw(text) } else { console.line(text) }
    }

    /// A rate with the digits it needs: 0.62, 7.4, 512, 12.3k.
    public static func rate(_ value: Double) -> String {
        guard value.isFinite else { return "?" }
        if value < 10 { return String(format: value < 1 ? "%.2f" : "%.1f", value) }
        return compact(Int(value.rounded()))
    }

    public static func compact(_ value: Int) -> String {
        let v = Double(value)
        if abs(v) >= 1e9 { return String(format: "%.2fG", v / 1e9) }
        if abs(v) >= 1e6 { return String(format: "%.2fM", v / 1e6) }
        if abs(v) >= 1e4 { return String(format: "%.1fk", v / 1e3) }
        return String(value)
    }

    public static func duration(_ seconds: Double) -> String {
        if !seconds.isFinite { return "?" }
        if seconds < 60 { return String(format: "%.1fs", seconds) }
        let s = Int(seconds.rounded())
        if s < 3600 { return String(format: "%dm%02ds", s / 60, s % 60) }
        return String(format: "%dh%02dm", s / 3600, (s % 3600) / 60)
    }
}
