using Palu.Cli;
using Palu.Cli.Commands;

var root = Cli.CreateRoot(InspectCommand.Create(), GenerateCommand.Create(), EvalCommand.Create(), CompressCommand.Create(), FisherCommand.Create(), DoctorCommand.Create(),
    BenchCommand.Create());
return await Cli.RunAsync(root, args);
