using System.Globalization;
using FacialExpression.Data;
using FacialExpression.Persistence;
using FacialExpression.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace FacialExpression.Benchmarks;

/// <summary>
/// Which views of a test image a model should average. The networks are trained on random crops (40×40 of 48×48)
/// and, being fully convolutional with global average pooling, also accept the whole 48×48 image. This prints the
/// accuracy on a folder-per-label split of each network and of their average for several view sets: the centre crop
/// and the flip (the library's <c>None</c> and <c>Flip</c>), the whole image, and combinations.
/// </summary>
internal static class ViewStudy
{
    private static readonly (string Name, Func<Tensor, int, List<Tensor>> Views)[] ViewSets =
    [
        // The library's own view sets, as Predict and Evaluate use them.
        ("centre crop (None)", (x, crop) => ExpressionModel.Views(x, (int)x.shape[2], crop, TestTimeAugmentation.None)),
        ("centre crop + flip (Flip)", (x, crop) => ExpressionModel.Views(x, (int)x.shape[2], crop, TestTimeAugmentation.Flip)),
        ("whole image", (x, _) => [x]),
        ("whole image + flip", (x, _) => [x, x.flip(3)]),
        ("centre crop + whole image, + flips", (x, crop) => [BatchAugmenter.CenterCrop(x, crop), BatchAugmenter.CenterCrop(x, crop).flip(3), x, x.flip(3)]),
    ];

    public static int Run(string[] args)
    {
        string modelPath = RecallStudy.Arg(args, "--model") ?? throw new ArgumentException("views needs --model <file.fexm>");
        string folder = RecallStudy.Arg(args, "--data") ?? throw new ArgumentException("views needs --data <folder-per-label split, e.g. fer2013/val>");
        using var stream = File.OpenRead(modelPath);
        var (metas, pre, nets) = ModelFile.Load(stream, modelPath);
        try
        {
            var data = DatasetReader.ReadFolder(folder, pre, throwOnUnreadable: false, metas[0].Labels);
            int size = data.ImageSize, k = data.Labels.Count, count = data.Count;
            Console.WriteLine($"{modelPath}: {nets.Length} network(s); {count} images of {folder}");
            // probabilities[set][net] = count × k, averaged over that set's views
            var sums = ViewSets.Select(_ => nets.Select(_ => new float[count * k]).ToArray()).ToArray();
            using (no_grad())
            {
                for (int start = 0; start < count; start += 256)
                {
                    using var scope = NewDisposeScope();
                    int n = Math.Min(256, count - start);
                    var x = tensor(data.Pixels.AsSpan(start * size * size, n * size * size).ToArray(), [n, 1, size, size]);
                    for (int s = 0; s < ViewSets.Length; s++)
                        for (int m = 0; m < nets.Length; m++)
                        {
                            var views = ViewSets[s].Views(x, metas[m].CropSize);
                            var p = zeros(n, k);
                            foreach (var v in views) p.add_(nn.functional.softmax(nets[m].call(v), 1));
                            p.div_(views.Count).data<float>().CopyTo(sums[s][m].AsSpan(start * k, n * k));
                        }
                }
            }
            var inv = CultureInfo.InvariantCulture;
            Console.WriteLine("| views | " + string.Join(" | ", Enumerable.Range(0, nets.Length).Select(m => $"network {m + 1}")) + " | average |");
            Console.WriteLine("|---|" + string.Concat(Enumerable.Repeat("---|", nets.Length + 1)));
            for (int s = 0; s < ViewSets.Length; s++)
            {
                var average = new float[count * k];
                foreach (var p in sums[s])
                    for (int i = 0; i < average.Length; i++) average[i] += p[i];
                var cells = sums[s].Select(p => Accuracy(p, data.Targets, k)).Append(Accuracy(average, data.Targets, k));
                Console.WriteLine($"| {ViewSets[s].Name} | " + string.Join(" | ", cells.Select(a => a.ToString("P2", inv))) + " |");
            }
            return 0;
        }
        finally
        {
            foreach (var net in nets) net.Dispose();
        }
    }

    private static double Accuracy(float[] probabilities, int[] targets, int k)
    {
        int right = 0;
        for (int i = 0; i < targets.Length; i++)
        {
            int best = 0;
            for (int j = 1; j < k; j++) if (probabilities[i * k + j] > probabilities[i * k + best]) best = j;
            if (best == targets[i]) right++;
        }
        return right / (double)targets.Length;
    }
}
