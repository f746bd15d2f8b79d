import PlanVaultCLI

await PlanVaultCommand.runFromCommandLine()
