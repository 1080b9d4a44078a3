using System.Runtime.ExceptionServices;
using SkiaSharp;

namespace FacialExpression;

/// <summary>
/// Generates a folder-per-label dataset of drawn faces whose expression is carried by the mouth, eyes and eyebrows,
/// with random position, scale, rotation, brightness, contrast, background and pixel noise. It lets the samples and
/// tests run without downloading anything, and is a learnable task: a model that cannot learn it is broken.
/// </summary>
public static class SyntheticFaces
{
    /// <summary>The expressions <see cref="Generate"/> draws, in folder (ordinal) order.</summary>
    public static IReadOnlyList<string> Labels { get; } = ["angry", "happy", "neutral", "sad", "surprise"];

    /// <summary>
    /// Writes <paramref name="imagesPerClass"/> PNG images per expression into <c>folder/&lt;label&gt;/</c>.
    /// The same seed always gives the same images.
    /// </summary>
    /// <param name="folder">Destination; created if needed. Existing files with the same names are replaced.</param>
    /// <param name="imagesPerClass">Images per expression, 1 to 100 000.</param>
    /// <param name="seed">Random seed.</param>
    /// <param name="imageSize">Side of the square images in pixels, 24 to 512. Default 48.</param>
    /// <returns>The full path of <paramref name="folder"/>.</returns>
    /// <exception cref="ArgumentOutOfRangeException"><paramref name="imagesPerClass"/> or <paramref name="imageSize"/> is out of range.</exception>
    /// <exception cref="IOException">A folder or image cannot be written (a full disk, or a file where a folder is needed).</exception>
    /// <exception cref="UnauthorizedAccessException">The folder is not writable.</exception>
    public static string Generate(string folder, int imagesPerClass, int seed, int imageSize = 48)
    {
        Guard.NotNullOrEmpty(folder, nameof(folder));
        Guard.InRange(imagesPerClass, 1, 100_000, nameof(imagesPerClass));
        Guard.InRange(imageSize, 24, 512, nameof(imageSize));
        var root = Path.GetFullPath(folder);
        for (int c = 0; c < Labels.Count; c++)
        {
            var dir = Directory.CreateDirectory(Path.Combine(root, Labels[c])).FullName;
            int classIndex = c;
            try
            {
                Parallel.For(0, imagesPerClass, i =>
                {
                    var rng = new Random(ImageSeed(seed, classIndex, i));
                    using var bitmap = Draw(Labels[classIndex], imageSize, rng);
                    using var data = bitmap.Encode(SKEncodedImageFormat.Png, 100);
                    AtomicFile.Write(Path.Combine(dir, $"{Labels[classIndex]}_{i:D5}.png"), s => data.SaveTo(s));
                });
            }
            catch (AggregateException e) when (e.InnerExceptions.FirstOrDefault(x => x is IOException or UnauthorizedAccessException) is { } first)
            {
                ExceptionDispatchInfo.Throw(first); // a full disk or a read-only folder: the error itself, not every core's copy of it
            }
        }
        return root;
    }

    /// <summary>
    /// The seed of one image's generator: a fixed mix (SplitMix64's finaliser) of the caller's seed, the class and the
    /// image index. Unlike <c>HashCode.Combine</c>, which is randomised per process, it gives the same images in
    /// every process.
    /// </summary>
    internal static int ImageSeed(int seed, int classIndex, int image)
    {
        ulong z = unchecked(((ulong)(uint)seed << 32 | (uint)(classIndex << 20 ^ image)) + 0x9E3779B97F4A7C15UL);
        z = unchecked((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL);
        z = unchecked((z ^ (z >> 27)) * 0x94D049BB133111EBUL);
        return (int)(z ^ (z >> 31));
    }

    private static float U(Random r, float min, float max) => min + (float)r.NextDouble() * (max - min);

    internal static SKBitmap Draw(string label, int size, Random r)
    {
        var bitmap = new SKBitmap(size, size, SKColorType.Gray8, SKAlphaType.Opaque);
        using var canvas = new SKCanvas(bitmap);
        float s = size / 48f;
        byte bg = (byte)r.Next(20, 120);
        canvas.Clear(new SKColor(bg, bg, bg));
        // A soft background gradient so brightness is not constant.
        using (var shader = SKShader.CreateLinearGradient(new SKPoint(0, 0), new SKPoint(size, size),
                   [new SKColor(bg, bg, bg, 0), new SKColor(255, 255, 255, (byte)r.Next(0, 60))], SKShaderTileMode.Clamp))
        using (var paint = new SKPaint { Shader = shader })
            canvas.DrawRect(0, 0, size, size, paint);

        canvas.Translate(size / 2f + U(r, -3, 3) * s, size / 2f + U(r, -3, 3) * s);
        canvas.RotateDegrees(U(r, -12, 12));
        float k = U(r, 0.85f, 1.1f) * s;
        canvas.Scale(k);
        byte skin = (byte)Math.Clamp(bg + r.Next(60, 130), 0, 255);
        byte ink = (byte)Math.Max(0, skin - r.Next(90, 150));
        using var face = new SKPaint { Color = new SKColor(skin, skin, skin), IsAntialias = true };
        using var line = new SKPaint { Color = new SKColor(ink, ink, ink), IsAntialias = true, Style = SKPaintStyle.Stroke, StrokeWidth = U(r, 1.6f, 2.4f), StrokeCap = SKStrokeCap.Round };
        using var fill = new SKPaint { Color = new SKColor(ink, ink, ink), IsAntialias = true };
        canvas.DrawOval(0, 0, U(r, 16, 19), U(r, 19, 22), face);

        float eyeY = -5 + U(r, -1, 1), eyeX = 6.5f + U(r, -0.8f, 0.8f);
        float eyeR = label == "surprise" ? U(r, 2.2f, 2.8f) : U(r, 1.4f, 2f);
        canvas.DrawCircle(-eyeX, eyeY, eyeR, fill);
        canvas.DrawCircle(eyeX, eyeY, eyeR, fill);

        // Eyebrows: (inner, outer) heights above the eyes.
        float browBase = eyeY - 4.5f;
        (float inner, float outer) = label switch
        {
            "angry" => (2.5f, -1.5f),   // inner ends pulled down: a V
            "sad" => (-2.5f, 1.2f),     // inner ends raised
            "surprise" => (-3f, -3f),   // both raised high
            _ => (0f, 0f),
        };
        inner += U(r, -0.5f, 0.5f); outer += U(r, -0.5f, 0.5f);
        canvas.DrawLine(-2.5f, browBase + inner, -10f, browBase + outer, line);
        canvas.DrawLine(2.5f, browBase + inner, 10f, browBase + outer, line);

        float mouthY = 9 + U(r, -1, 1), half = U(r, 5, 7.5f);
        switch (label)
        {
            case "happy":
                DrawCurve(canvas, half, mouthY - 1, U(r, 4f, 6f), line);
                break;
            case "sad":
                DrawCurve(canvas, half, mouthY + 2, -U(r, 3f, 5f), line);
                break;
            case "surprise":
                canvas.DrawOval(0, mouthY + 1, U(r, 2.5f, 3.5f), U(r, 3.5f, 4.8f), fill);
                break;
            case "angry":
                canvas.DrawLine(-half, mouthY + 1, half, mouthY + 1 + U(r, -0.5f, 0.5f), line);
                canvas.DrawLine(-half * 0.6f, mouthY + 2.4f, half * 0.6f, mouthY + 2.4f, line);
                break;
            default:
                canvas.DrawLine(-half, mouthY, half, mouthY + U(r, -0.6f, 0.6f), line);
                break;
        }
        canvas.Flush();
        AddNoise(bitmap, r, U(r, 4, 14));
        return bitmap;
    }

    private static void DrawCurve(SKCanvas canvas, float half, float y, float depth, SKPaint paint)
    {
        using var path = new SKPath();
        path.MoveTo(-half, y - depth / 2);
        path.QuadTo(0, y + depth, half, y - depth / 2);
        canvas.DrawPath(path, paint);
    }

    private static void AddNoise(SKBitmap bitmap, Random r, float sigma)
    {
        var pixels = bitmap.GetPixelSpan();
        var bytes = new byte[pixels.Length];
        for (int i = 0; i < bytes.Length; i++)
        {
            // Box-Muller Gaussian noise.
            double g = Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble());
            bytes[i] = (byte)Math.Clamp(pixels[i] + g * sigma, 0, 255);
        }
        System.Runtime.InteropServices.Marshal.Copy(bytes, 0, bitmap.GetPixels(), bytes.Length);
    }
}
