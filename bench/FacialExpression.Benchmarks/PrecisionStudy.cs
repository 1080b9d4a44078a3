using System.Diagnostics;
using System.Globalization;
using FacialExpression.Modeling;
using TorchSharp;
using static TorchSharp.torch;

namespace FacialExpression.Benchmarks;

/// <summary>
/// Training and inference throughput of the library's network in float32 and in bfloat16 (whole model cast, since
/// TorchSharp 0.107 has no autocast), each with channels-last activations (the library's layout) and without, on random
/// data: SGD steps with Nesterov momentum at the trainer's crop size. The four variants are measured in turn, for
/// several rounds, so that drifts in the host's speed hit all of them alike.
/// </summary>
internal static class PrecisionStudy
{
    public static int Run(string[] args)
    {
        var arch = Enum.Parse<ExpressionArchitecture>(RecallStudy.Arg(args, "--architecture") ?? "Standard");
        int batch = int.Parse(RecallStudy.Arg(args, "--batch") ?? "64", CultureInfo.InvariantCulture);
        int crop = int.Parse(RecallStudy.Arg(args, "--crop") ?? "40", CultureInfo.InvariantCulture);
        int steps = int.Parse(RecallStudy.Arg(args, "--steps") ?? "40", CultureInfo.InvariantCulture);
        int rounds = int.Parse(RecallStudy.Arg(args, "--rounds") ?? "3", CultureInfo.InvariantCulture);
        torch.set_num_threads(Environment.ProcessorCount);
        torch.random.manual_seed(1);
        Console.WriteLine($"{arch}, batch {batch}, {crop}×{crop} inputs, {steps} timed steps, {rounds} rounds, {Environment.ProcessorCount} threads");
        for (int round = 1; round <= rounds; round++)
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.BFloat16 })
        foreach (var channelsLast in new[] { true, false })
        {
            using var net = new ExpressionNet(arch, 7, 0.3, 0.5f, 0.25f) { ChannelsLast = channelsLast };
            net.to(dtype);
            using var optimizer = torch.optim.SGD(net.parameters(), 0.01, momentum: 0.9, nesterov: true, weight_decay: 5e-4);
            using var x = torch.rand(batch, 1, crop, crop).to(dtype);
            using var y = torch.randint(0, 7, [batch], dtype: ScalarType.Int64);
            double loss = 0;
            void Step()
            {
                using var scope = NewDisposeScope();
                optimizer.zero_grad();
                var l = nn.functional.cross_entropy(net.call(x), y);
                l.backward();
                optimizer.step();
                loss = l.to(ScalarType.Float32).item<float>();
            }
            net.train();
            for (int i = 0; i < 5; i++) Step();
            var sw = Stopwatch.StartNew();
            for (int i = 0; i < steps; i++) Step();
            double trainRate = steps * batch / sw.Elapsed.TotalSeconds;

            net.eval();
            using var big = torch.rand(256, 1, crop, crop).to(dtype);
            double inferRate;
            using (torch.no_grad())
            {
                for (int i = 0; i < 3; i++) net.call(big).Dispose();
                sw.Restart();
                for (int i = 0; i < 10; i++) net.call(big).Dispose();
                inferRate = 10 * 256 / sw.Elapsed.TotalSeconds;
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"round {round}  {dtype,-9} {(channelsLast ? "channels-last" : "contiguous   ")}  training {trainRate,6:F0} images/s (last loss {loss:F3})   inference {inferRate,6:F0} images/s"));
        }
        return 0;
    }
}
