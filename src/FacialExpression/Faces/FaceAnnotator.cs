using System.Globalization;
using FacialExpression.Data;
using SkiaSharp;

namespace FacialExpression.Faces;

/// <summary>Draws each face's box and top expression on a copy of a photo and writes it atomically.</summary>
internal static class FaceAnnotator
{
    private static readonly SKColor[] Palette =
    [
        new(0xFF, 0x45, 0x3A), new(0x32, 0xD7, 0x4B), new(0x0A, 0x84, 0xFF), new(0xFF, 0xD6, 0x0A),
        new(0xBF, 0x5A, 0xF2), new(0xFF, 0x9F, 0x0A), new(0x64, 0xD2, 0xFF), new(0xFF, 0x37, 0x5F),
    ];

    private static readonly string[] SansFamilies = ["DejaVu Sans", "Liberation Sans", "Noto Sans", "Arial", "Helvetica", "Segoe UI"];

    private static readonly Lazy<SKTypeface?> Typeface = new(FindTypeface);

    /// <summary>When set, text is always drawn with the built-in pixel font (tests use it to exercise the fallback).</summary>
    internal static bool ForcePixelFont { get; set; }

    /// <summary>The encoder for an output file name, chosen by its extension.</summary>
    /// <exception cref="ArgumentException">The extension is not one SkiaSharp can encode.</exception>
    public static SKEncodedImageFormat FormatFor(string outputPath)
    {
        var ext = Path.GetExtension(outputPath).ToLowerInvariant();
        return ext switch
        {
            ".png" => SKEncodedImageFormat.Png,
            ".jpg" or ".jpeg" => SKEncodedImageFormat.Jpeg,
            ".webp" => SKEncodedImageFormat.Webp,
            _ => throw new ArgumentException(
                $"Cannot write an annotated image to '{outputPath}': the extension '{ext}' is not supported. Use .png, .jpg, .jpeg or .webp.",
                nameof(outputPath)),
        };
    }

    /// <summary>The largest side each output format can encode (WebP: 16,383 pixels; JPEG: 65,535).</summary>
    private static int MaxSide(SKEncodedImageFormat format) => format switch
    {
        SKEncodedImageFormat.Webp => 16_383,
        SKEncodedImageFormat.Jpeg => 65_535,
        _ => int.MaxValue,
    };

    /// <summary>Whether two paths name the same file (compared as full paths; case-insensitively where file systems usually are).</summary>
    public static bool IsSamePath(string a, string b) =>
        string.Equals(Path.GetFullPath(a), Path.GetFullPath(b), OperatingSystem.IsLinux() ? StringComparison.Ordinal : StringComparison.OrdinalIgnoreCase);

    /// <summary>Checks, before any work, that a photo of this size can be written in the output's format.</summary>
    /// <exception cref="ArgumentException">A side exceeds what the format can encode.</exception>
    public static void CheckSize(string outputPath, SKEncodedImageFormat format, int width, int height)
    {
        int max = MaxSide(format);
        if (width > max || height > max)
            throw new ArgumentException(
                $"Cannot write a {width}×{height} annotated image to '{outputPath}': {format} images are at most {max} pixels a side. Use .png, or a smaller photo.",
                nameof(outputPath));
    }

    /// <summary>Draws the faces on a copy of the photo and writes it to <paramref name="outputPath"/> (temp file, then rename).</summary>
    public static void Write(Photo photo, IReadOnlyList<FaceExpression> faces, IReadOnlyList<string> labels, string outputPath, SKEncodedImageFormat format)
    {
        using var bitmap = photo.Bitmap.Copy();
        using (var canvas = new SKCanvas(bitmap))
        {
            Draw(canvas, bitmap.Width, bitmap.Height, faces, labels);
            canvas.Flush();
        }
        using var data = bitmap.Encode(format, 92)
            ?? throw new InvalidOperationException($"SkiaSharp could not encode the annotated image as {format}.");
        AtomicFile.Write(outputPath, s => data.SaveTo(s));
    }

    internal static void Draw(SKCanvas canvas, int width, int height, IReadOnlyList<FaceExpression> faces, IReadOnlyList<string> labels)
    {
        int shortSide = Math.Min(width, height);
        float stroke = Math.Max(2f, shortSide / 250f);
        float textSize = Math.Clamp(shortSide / 32f, 12f, 72f);
        using var boxPaint = new SKPaint { Style = SKPaintStyle.Stroke, StrokeWidth = stroke, IsAntialias = true };
        using var fillPaint = new SKPaint { Style = SKPaintStyle.Fill, IsAntialias = true };
        using var textPaint = new SKPaint { Color = SKColors.Black, IsAntialias = true };
        var typeface = ForcePixelFont ? null : Typeface.Value;
        using var font = typeface is null ? null : new SKFont(typeface, textSize) { Embolden = false };
        foreach (var face in faces)
        {
            var p = face.Prediction;
            int index = Math.Max(0, IndexOf(labels, p.Label));
            var color = Palette[index % Palette.Length];
            var b = face.Box;
            boxPaint.Color = color;
            canvas.DrawRect(b.X + stroke / 2, b.Y + stroke / 2, Math.Max(1, b.Width - stroke), Math.Max(1, b.Height - stroke), boxPaint);

            var text = string.Create(CultureInfo.InvariantCulture, $"{p.Label} {p.Confidence * 100:F0}%");
            bool vector = font is not null && font.ContainsGlyphs(text);
            float pad = textSize * 0.25f;
            float textWidth = vector ? font!.MeasureText(text) : PixelFont.Measure(text, textSize);
            float labelHeight = textSize + 2 * pad;
            float left = Math.Clamp(b.X, 0, Math.Max(0, width - textWidth - 2 * pad));
            // Above the box when there is room, otherwise just inside its top edge.
            float top = b.Y - labelHeight >= 0 ? b.Y - labelHeight : b.Y;
            fillPaint.Color = color;
            canvas.DrawRect(left, top, textWidth + 2 * pad, labelHeight, fillPaint);
            if (vector)
                canvas.DrawText(text, left + pad, top + pad + textSize * 0.8f, SKTextAlign.Left, font!, textPaint);
            else
                PixelFont.Draw(canvas, text, left + pad, top + pad, textSize, textPaint);
        }
    }

    private static int IndexOf(IReadOnlyList<string> labels, string label)
    {
        for (int i = 0; i < labels.Count; i++) if (labels[i] == label) return i;
        return -1;
    }

    private static SKTypeface? FindTypeface()
    {
        var manager = SKFontManager.Default;
        foreach (var family in SansFamilies)
        {
            var t = manager.MatchFamily(family, SKFontStyle.Bold);
            if (t is { GlyphCount: > 0 }) return t;
            t?.Dispose();
        }
        var fallback = SKTypeface.Default;
        return fallback.GlyphCount > 0 ? fallback : null;
    }
}

/// <summary>
/// A 5×7 pixel font for lower-case ASCII labels, used when no system font with the needed glyphs is available (for
/// example in a container without fonts, where SkiaSharp would silently draw nothing).
/// </summary>
internal static class PixelFont
{
    private const int Columns = 5, Rows = 7;

    private static readonly Dictionary<char, string[]> Glyphs = new()
    {
        ['a'] = [".....", ".....", ".###.", "....#", ".####", "#...#", ".####"],
        ['b'] = ["#....", "#....", "####.", "#...#", "#...#", "#...#", "####."],
        ['c'] = [".....", ".....", ".###.", "#....", "#....", "#...#", ".###."],
        ['d'] = ["....#", "....#", ".####", "#...#", "#...#", "#...#", ".####"],
        ['e'] = [".....", ".....", ".###.", "#...#", "#####", "#....", ".###."],
        ['f'] = ["..##.", ".#..#", ".#...", "###..", ".#...", ".#...", ".#..."],
        ['g'] = [".....", ".####", "#...#", "#...#", ".####", "....#", ".###."],
        ['h'] = ["#....", "#....", "#.##.", "##..#", "#...#", "#...#", "#...#"],
        ['i'] = ["..#..", ".....", ".##..", "..#..", "..#..", "..#..", ".###."],
        ['j'] = ["...#.", ".....", "..##.", "...#.", "...#.", "#..#.", ".##.."],
        ['k'] = ["#....", "#....", "#..#.", "#.#..", "##...", "#.#..", "#..#."],
        ['l'] = [".##..", "..#..", "..#..", "..#..", "..#..", "..#..", ".###."],
        ['m'] = [".....", ".....", "##.#.", "#.#.#", "#.#.#", "#...#", "#...#"],
        ['n'] = [".....", ".....", "#.##.", "##..#", "#...#", "#...#", "#...#"],
        ['o'] = [".....", ".....", ".###.", "#...#", "#...#", "#...#", ".###."],
        ['p'] = [".....", "####.", "#...#", "#...#", "####.", "#....", "#...."],
        ['q'] = [".....", ".####", "#...#", "#...#", ".####", "....#", "....#"],
        ['r'] = [".....", ".....", "#.##.", "##..#", "#....", "#....", "#...."],
        ['s'] = [".....", ".....", ".####", "#....", ".###.", "....#", "####."],
        ['t'] = [".#...", ".#...", "###..", ".#...", ".#...", ".#..#", "..##."],
        ['u'] = [".....", ".....", "#...#", "#...#", "#...#", "#..##", ".##.#"],
        ['v'] = [".....", ".....", "#...#", "#...#", "#...#", ".#.#.", "..#.."],
        ['w'] = [".....", ".....", "#...#", "#...#", "#.#.#", "#.#.#", ".#.#."],
        ['x'] = [".....", ".....", "#...#", ".#.#.", "..#..", ".#.#.", "#...#"],
        ['y'] = [".....", "#...#", "#...#", "#...#", ".####", "....#", ".###."],
        ['z'] = [".....", ".....", "#####", "...#.", "..#..", ".#...", "#####"],
        ['0'] = [".###.", "#...#", "#..##", "#.#.#", "##..#", "#...#", ".###."],
        ['1'] = ["..#..", ".##..", "..#..", "..#..", "..#..", "..#..", ".###."],
        ['2'] = [".###.", "#...#", "....#", "...#.", "..#..", ".#...", "#####"],
        ['3'] = ["#####", "...#.", "..#..", "...#.", "....#", "#...#", ".###."],
        ['4'] = ["...#.", "..##.", ".#.#.", "#..#.", "#####", "...#.", "...#."],
        ['5'] = ["#####", "#....", "####.", "....#", "....#", "#...#", ".###."],
        ['6'] = ["..##.", ".#...", "#....", "####.", "#...#", "#...#", ".###."],
        ['7'] = ["#####", "....#", "...#.", "..#..", ".#...", ".#...", ".#..."],
        ['8'] = [".###.", "#...#", "#...#", ".###.", "#...#", "#...#", ".###."],
        ['9'] = [".###.", "#...#", "#...#", ".####", "....#", "...#.", ".##.."],
        ['%'] = ["##...", "##..#", "...#.", "..#..", ".#...", "#..##", "...##"],
        ['.'] = [".....", ".....", ".....", ".....", ".....", ".##..", ".##.."],
        ['-'] = [".....", ".....", ".....", "#####", ".....", ".....", "....."],
        ['_'] = [".....", ".....", ".....", ".....", ".....", ".....", "#####"],
        ['?'] = [".###.", "#...#", "....#", "...#.", "..#..", ".....", "..#.."],
        [' '] = [".....", ".....", ".....", ".....", ".....", ".....", "....."],
    };

    /// <summary>Width of <paramref name="text"/> drawn <paramref name="size"/> pixels tall.</summary>
    public static float Measure(string text, float size) => text.Length * (Columns + 1) * (size / Rows) - size / Rows;

    /// <summary>Draws <paramref name="text"/> with its top-left corner at (x, y), <paramref name="size"/> pixels tall.</summary>
    public static void Draw(SKCanvas canvas, string text, float x, float y, float size, SKPaint paint)
    {
        float cell = size / Rows;
        foreach (var raw in text)
        {
            var c = char.ToLowerInvariant(raw);
            var glyph = Glyphs.TryGetValue(c, out var g) ? g : Glyphs['?'];
            for (int r = 0; r < Rows; r++)
                for (int k = 0; k < Columns; k++)
                    if (glyph[r][k] == '#') canvas.DrawRect(x + k * cell, y + r * cell, cell, cell, paint);
            x += (Columns + 1) * cell;
        }
    }
}
