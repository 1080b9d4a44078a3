using System.Globalization;
using SkiaSharp;

namespace FacialExpression.Benchmarks;

/// <summary>
/// Measures how FER2013 frames its faces relative to the cascade detector's box: every FER2013 image is upscaled
/// 4× (to 192 px), padded by repeating its edges, and searched; the box found is compared with the 48×48 frame. The
/// crop margin that reproduces FER2013's framing from a detector box is (frame / box − 1) / 2.
/// </summary>
internal static class FramingStudy
{
    public static int Run(string[] args)
    {
        string fer = RecallStudy.Arg(args, "--fer") ?? throw new ArgumentException("framing needs --fer <FER2013 folder-per-label folder>");
        int perClass = int.Parse(RecallStudy.Arg(args, "--per-class") ?? "100", CultureInfo.InvariantCulture);
        string? cascade = RecallStudy.Arg(args, "--cascade");
        const int Side = 192, Pad = 96;
        using var detector = new CascadeFaceDetector(new CascadeFaceDetectorOptions { CascadeFile = cascade });
        var ratios = new List<double>();
        var dxs = new List<double>();
        var dys = new List<double>();
        int total = 0;
        foreach (var dir in Directory.GetDirectories(fer).Order(StringComparer.Ordinal))
            foreach (var file in Directory.GetFiles(dir).Order(StringComparer.Ordinal).Take(perClass))
            {
                total++;
                using var face = Shared.Decode(file);
                using var image = SKImage.FromBitmap(face);
                using var padded = new SKBitmap(new SKImageInfo(Side + 2 * Pad, Side + 2 * Pad, SKColorType.Bgra8888, SKAlphaType.Opaque));
                using (var canvas = new SKCanvas(padded))
                {
                    float k = Side / (float)face.Width;
                    var matrix = SKMatrix.CreateScaleTranslation(k, k, Pad, Pad);
                    using var shader = SKShader.CreateImage(image, SKShaderTileMode.Clamp, SKShaderTileMode.Clamp, new SKSamplingOptions(SKCubicResampler.Mitchell), matrix);
                    using var paint = new SKPaint { Shader = shader };
                    canvas.DrawRect(0, 0, padded.Width, padded.Height, paint);
                }
                var found = detector.Detect(Shared.Bgra(padded), padded.Width, padded.Height);
                if (found.Count == 0) continue;
                var b = found.MaxBy(f => f.Box.Area).Box;
                ratios.Add(b.Width / (double)Side);
                dxs.Add((b.X + b.Width / 2.0 - Pad - Side / 2.0) / b.Width);
                dys.Add((b.Y + b.Height / 2.0 - Pad - Side / 2.0) / b.Height);
            }
        Console.WriteLine($"cascade {(cascade is null ? "built-in" : Path.GetFileName(cascade))}: found a face in {ratios.Count} of {total} FER2013 images ({100.0 * ratios.Count / Math.Max(1, total):F0} %)");
        if (ratios.Count == 0) return 1;
        Console.WriteLine($"box side / FER frame side: median {Median(ratios):F3} (quartiles {Quantile(ratios, 0.25):F3} – {Quantile(ratios, 0.75):F3})");
        Console.WriteLine($"box centre − frame centre, in box sides: x {Median(dxs):+0.000;-0.000}, y {Median(dys):+0.000;-0.000} (median)");
        double margin = (1 / Median(ratios) - 1) / 2;
        Console.WriteLine($"=> crop margin reproducing FER2013 framing: {margin:F3} of the box side on each side");
        return 0;
    }

    private static double Median(List<double> v) => Quantile(v, 0.5);

    private static double Quantile(List<double> v, double q)
    {
        var s = v.Order().ToArray();
        double pos = q * (s.Length - 1);
        int i = (int)Math.Floor(pos);
        return i + 1 < s.Length ? s[i] + (pos - i) * (s[i + 1] - s[i]) : s[i];
    }
}
