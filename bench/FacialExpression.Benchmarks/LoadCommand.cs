using System.Diagnostics;
using FacialExpression.Data;
using SkiaSharp;

namespace FacialExpression.Benchmarks;

/// <summary>
/// Time and peak memory of reading a folder-per-label dataset into the network's input buffer (decode, grayscale,
/// resize), as <c>Train</c> and <c>Evaluate</c> do before any network work.
/// </summary>
internal static class LoadCommand
{
    // load --folder DIR [--image-size 48] [--rounds 3]
    // load --photos N [--width 4032 --height 3024]   (writes N generated JPEG photos per class to a temp folder first)
    public static int Run(string[] args)
    {
        string? folder = Arg(args, "--folder");
        int imageSize = int.Parse(Arg(args, "--image-size") ?? "48");
        int rounds = int.Parse(Arg(args, "--rounds") ?? "3");
        if (Arg(args, "--photos") is string n)
            folder = WritePhotos(int.Parse(n), int.Parse(Arg(args, "--width") ?? "4032"), int.Parse(Arg(args, "--height") ?? "3024"));
        if (folder is null) { Console.Error.WriteLine("Give --folder DIR or --photos N."); return 2; }
        var pre = ImagePreprocessor.Create(imageSize, 0);
        for (int r = 1; r <= rounds; r++)
        {
            var sw = Stopwatch.StartNew();
            var data = DatasetReader.ReadFolder(folder, pre, throwOnUnreadable: false);
            sw.Stop();
            Console.WriteLine($"round {r}: {data.Count} images ({data.Skipped} skipped) in {sw.Elapsed.TotalSeconds:F2} s = " +
                $"{data.Count / sw.Elapsed.TotalSeconds:F0} images/s; peak working set so far {Process.GetCurrentProcess().PeakWorkingSet64 / 1048576} MiB");
        }
        return 0;
    }

    private static string? Arg(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }

    private static string WritePhotos(int perClass, int width, int height)
    {
        var root = Path.Combine(Path.GetTempPath(), $"facialexpression-load-{perClass}x{width}x{height}");
        if (Directory.Exists(root)) return root;
        var temp = root + ".partial";
        if (Directory.Exists(temp)) Directory.Delete(temp, true);
        var random = new Random(1);
        foreach (var label in new[] { "happy", "sad" })
        {
            Directory.CreateDirectory(Path.Combine(temp, label));
            for (int i = 0; i < perClass; i++)
            {
                using var bitmap = new SKBitmap(width, height);
                using (var canvas = new SKCanvas(bitmap))
                {
                    canvas.Clear(new SKColor((byte)random.Next(256), (byte)random.Next(256), (byte)random.Next(256)));
                    using var paint = new SKPaint { Color = SKColors.White };
                    canvas.DrawCircle(random.Next(width), random.Next(height), height / 4f, paint);
                }
                using var jpeg = bitmap.Encode(SKEncodedImageFormat.Jpeg, 90);
                File.WriteAllBytes(Path.Combine(temp, label, $"{i:D4}.jpg"), jpeg.ToArray());
            }
        }
        Directory.Move(temp, root);
        return root;
    }
}
