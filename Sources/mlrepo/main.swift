#if canImport(Glibc)
import Glibc
#endif
import CLI

exit(runCLI(Array(CommandLine.arguments.dropFirst())))
