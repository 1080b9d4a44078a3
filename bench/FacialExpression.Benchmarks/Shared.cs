using SkiaSharp;

namespace FacialExpression.Benchmarks;

internal static class Shared
{
    /// <summary>The astronaut test photo copied next to the executable.</summary>
    public static string AstronautPath => Path.Combine(AppContext.BaseDirectory, "Assets", "astronaut.png");

    /// <summary>Her face in astronaut.png (hairline to chin, cheek to cheek), drawn by hand.</summary>
    public static readonly FaceBox AstronautFace = new(178, 68, 96, 112);

    /// <summary>The shipped FER2013 model, or the model file named by the FACIALEXPRESSION_MODEL environment variable.</summary>
    public static ExpressionModel LoadModel()
    {
        var path = Environment.GetEnvironmentVariable("FACIALEXPRESSION_MODEL");
        return string.IsNullOrEmpty(path) ? ExpressionModel.LoadPretrained() : ExpressionModel.Load(path);
    }

    public static SKBitmap Decode(string path) =>
        SKBitmap.Decode(path)?.Copy(SKColorType.Bgra8888) ?? throw new InvalidOperationException($"Cannot decode '{path}'.");

    /// <summary>BGRA bytes of a bitmap (rows without padding).</summary>
    public static byte[] Bgra(SKBitmap bitmap)
    {
        using var copy = bitmap.ColorType == SKColorType.Bgra8888 ? null : bitmap.Copy(SKColorType.Bgra8888);
        var b = copy ?? bitmap;
        var bytes = new byte[b.Width * b.Height * 4];
        var span = b.GetPixelSpan();
        for (int y = 0; y < b.Height; y++)
            span.Slice(y * b.RowBytes, b.Width * 4).CopyTo(bytes.AsSpan(y * b.Width * 4));
        return bytes;
    }

    /// <summary>Downscales like the library does before detection: shorter side to <paramref name="size"/>, OpenCV area interpolation.</summary>
    public static SKBitmap Downscale(SKBitmap source, int size)
    {
        int shorter = Math.Min(source.Width, source.Height);
        if (size == 0 || shorter <= size) return source.Copy();
        double k = (double)size / shorter;
        int w = Math.Max(1, (int)Math.Round(source.Width * k)), h = Math.Max(1, (int)Math.Round(source.Height * k));
        using var bgra = source.ColorType == SKColorType.Bgra8888 ? source.Copy() : source.Copy(SKColorType.Bgra8888);
        using var src = OpenCvSharp.Mat.FromPixelData(bgra.Height, bgra.Width, OpenCvSharp.MatType.CV_8UC4, bgra.GetPixels(), bgra.RowBytes);
        using var dst = new OpenCvSharp.Mat();
        OpenCvSharp.Cv2.Resize(src, dst, new OpenCvSharp.Size(w, h), 0, 0, OpenCvSharp.InterpolationFlags.Area);
        var result = new SKBitmap(new SKImageInfo(w, h, SKColorType.Bgra8888, SKAlphaType.Opaque));
        dst.AsSpan<byte>().CopyTo(result.GetPixelSpan());
        return result;
    }

    /// <summary>A smooth, textured gray background (blurred noise), seeded.</summary>
    public static SKBitmap Background(int width, int height, int seed)
    {
        var rng = new Random(seed);
        int cw = Math.Max(2, width / 16), ch = Math.Max(2, height / 16);
        using var coarse = new SKBitmap(new SKImageInfo(cw, ch, SKColorType.Bgra8888, SKAlphaType.Opaque));
        for (int y = 0; y < ch; y++)
            for (int x = 0; x < cw; x++)
            {
                byte v = (byte)rng.Next(60, 200);
                coarse.SetPixel(x, y, new SKColor(v, (byte)Math.Clamp(v + rng.Next(-20, 20), 0, 255), (byte)Math.Clamp(v + rng.Next(-20, 20), 0, 255)));
            }
        var result = new SKBitmap(new SKImageInfo(width, height, SKColorType.Bgra8888, SKAlphaType.Opaque));
        using var canvas = new SKCanvas(result);
        using var image = SKImage.FromBitmap(coarse);
        canvas.DrawImage(image, new SKRect(0, 0, width, height), new SKSamplingOptions(SKCubicResampler.Mitchell));
        return result;
    }
}
