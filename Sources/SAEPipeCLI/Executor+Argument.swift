import ArgumentParser
import SAEPipe

extension Executor: ExpressibleByArgument {}
