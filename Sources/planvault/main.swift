import PlanVaultCLI
import PlanVaultCore

MemoryTuning.apply()
await PlanVaultCommand.runFromCommandLine()
