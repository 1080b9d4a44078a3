using BenchmarkDotNet.Running;
using FacialExpression.Benchmarks;

// dotnet run -c Release --project bench/FacialExpression.Benchmarks -- recall [--fer <folder>] [--per-class N] [--cascade <xml>]...
// dotnet run -c Release --project bench/FacialExpression.Benchmarks -- detect [image] [--det N] [--sf F] [--mn N] [--cascade <xml>]
// dotnet run -c Release --project bench/FacialExpression.Benchmarks -- framing --fer <folder> [--per-class N]
// dotnet run -c Release --project bench/FacialExpression.Benchmarks -- precision [--architecture Standard] [--batch 64] [--crop 40] [--steps 40] [--rounds 3]
// dotnet run -c Release --project bench/FacialExpression.Benchmarks -- load (--folder <folder> | --photos N [--width W --height H]) [--image-size 48] [--rounds 3]
// dotnet run -c Release --project bench/FacialExpression.Benchmarks -- views --model <file.fexm> --data <folder-per-label split>
// dotnet run -c Release --project bench/FacialExpression.Benchmarks -- [BenchmarkDotNet arguments, e.g. --filter * --job short]
return args.FirstOrDefault() switch
{
    "recall" => RecallStudy.Run(args[1..]),
    "framing" => FramingStudy.Run(args[1..]),
    "detect" => DetectCommand.Run(args[1..]),
    "precision" => PrecisionStudy.Run(args[1..]),
    "load" => LoadCommand.Run(args[1..]),
    "views" => ViewStudy.Run(args[1..]),
    _ => RunBenchmarks(args),
};

static int RunBenchmarks(string[] args)
{
    BenchmarkSwitcher.FromAssembly(typeof(PhotoBenchmarks).Assembly).Run(args);
    return 0;
}
