using System.CommandLine;
using Palu.Cli;
using Palu.Cli.Commands;

var root = new RootCommand("palu: low-rank compression of LLM KV caches and weights (Palu, ReCalKV, SkipCat, FLRC), with its own CPU engine and evaluation harness.");
root.Subcommands.Add(InspectCommand.Create());
root.Subcommands.Add(GenerateCommand.Create());
root.Subcommands.Add(EvalCommand.Create());
root.Subcommands.Add(CompressCommand.Create());
root.Subcommands.Add(FisherCommand.Create());
root.Subcommands.Add(BenchCommand.Create());
return await Cli.RunAsync(root, args);
