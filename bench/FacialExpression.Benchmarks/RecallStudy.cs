using System.Diagnostics;
using System.Globalization;
using OpenCvSharp;
using SkiaSharp;

namespace FacialExpression.Benchmarks;

/// <summary>
/// Measures the cascade detector's recall per face size: the astronaut photo scaled so her face is N pixels wide and
/// placed on a 512×512 canvas at several positions, and (with --fer) FER2013 faces pasted in a grid. For every
/// cascade, detection size, scale factor and min-neighbours setting it prints the percentage of faces found per face
/// width (in pixels of the 512×512 photo), false detections, and detection milliseconds per 512×512 photo.
/// </summary>
internal static class RecallStudy
{
    private const int Canvas = 512;
    private static readonly int[] AstronautSizes = [16, 20, 24, 28, 32, 40, 48, 64, 96, 128, 192, 256];
    private static readonly int[] FerSizes = [24, 32, 48, 64, 96, 128, 192];

    public static int Run(string[] args)
    {
        string? fer = Arg(args, "--fer");
        int perClass = int.Parse(Arg(args, "--per-class") ?? "20", CultureInfo.InvariantCulture);
        var cascades = new List<string?> { null };
        for (int i = 0; i < args.Length - 1; i++) if (args[i] == "--cascade") cascades.Add(args[i + 1]);
        var detSizes = (Arg(args, "--det") ?? "512,384,320,256").Split(',').Select(int.Parse).ToArray();
        var scales = (Arg(args, "--sf") ?? "1.1,1.2").Split(',').Select(s => double.Parse(s, CultureInfo.InvariantCulture)).ToArray();
        var neighbours = (Arg(args, "--mn") ?? "2,3,4,5").Split(',').Select(int.Parse).ToArray();

        var sets = new List<(string Name, int[] Sizes, List<Scene> Scenes, int PerSize)>
        {
            ("astronaut", AstronautSizes, AstronautScenes(out int astroPerSize), astroPerSize),
        };
        if (fer is not null)
        {
            var scenes = FerScenes(fer, perClass, out int ferPerSize);
            sets.Add(($"FER2013 ({ferPerSize} faces per size)", FerSizes, scenes, ferPerSize));
        }
        Console.WriteLine("Recall (% of faces found) by face width in pixels of a 512×512 photo; FP = false detections over all canvases;");
        Console.WriteLine("ms = mean detection time per 512×512 canvas (downscale + detect, one thread calling).");
        foreach (var cascade in cascades)
            foreach (var (name, sizes, scenes, perSize) in sets)
            {
                Console.WriteLine();
                Console.WriteLine($"== {name}, cascade {(cascade is null ? "built-in " + "lbpcascade_frontalface.xml" : Path.GetFileName(cascade))} ==");
                Console.WriteLine($"{"det",4} {"sf",4} {"mn",3} | " + string.Join(" ", sizes.Select(s => s.ToString(CultureInfo.InvariantCulture).PadLeft(4))) + " |   FP     ms");
                foreach (var det in detSizes)
                    foreach (var sf in scales)
                        Measure(cascade, scenes, sizes, perSize, det, sf, neighbours);
            }
        foreach (var set in sets) foreach (var s in set.Scenes) s.Image.Dispose();
        return 0;
    }

    private sealed record Scene(SKBitmap Image, int Size, List<FaceBox> Truth);

    private static void Measure(string? cascade, List<Scene> scenes, int[] sizes, int perSize, int det, double sf, int[] neighbours)
    {
        // MinNeighbors 0 returns the raw windows; each min-neighbours value is then grouped exactly as the detector does.
        using var detector = new CascadeFaceDetector(new CascadeFaceDetectorOptions { CascadeFile = cascade, ScaleFactor = sf, MinNeighbors = 0 });
        var hits = new Dictionary<(int Size, int Mn), int>();
        var fps = new Dictionary<int, int>();
        double ms = 0;
        foreach (var scene in scenes)
        {
            var sw = Stopwatch.StartNew();
            using var small = Shared.Downscale(scene.Image, det);
            var raw = detector.Detect(Shared.Bgra(small), small.Width, small.Height);
            ms += sw.Elapsed.TotalMilliseconds;
            double k = (double)scene.Image.Width / small.Width;
            foreach (var mn in neighbours)
            {
                var rects = raw.Select(f => new Rect(f.Box.X, f.Box.Y, f.Box.Width, f.Box.Height)).ToList();
                Cv2.GroupRectangles(rects, mn, 0.2);
                var boxes = rects.Select(r => new FaceBox((int)(r.X * k), (int)(r.Y * k), (int)(r.Width * k), (int)(r.Height * k))).ToList();
                int h = scene.Truth.Count(t => boxes.Any(b => b.IntersectionOverUnion(t) >= 0.4));
                int fp = boxes.Count(b => scene.Truth.All(t => b.IntersectionOverUnion(t) < 0.1));
                hits[(scene.Size, mn)] = hits.GetValueOrDefault((scene.Size, mn)) + h;
                fps[mn] = fps.GetValueOrDefault(mn) + fp;
            }
        }
        foreach (var mn in neighbours)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{det,4} {sf,4:0.0#} {mn,3} | {string.Join(" ", sizes.Select(s => (100.0 * hits.GetValueOrDefault((s, mn)) / perSize).ToString("F0", CultureInfo.InvariantCulture).PadLeft(4)))} | {fps[mn],4} {ms / scenes.Count,6:F1}"));
    }

    /// <summary>The astronaut scaled so her face is S pixels wide, at nine positions per size (3×3 grid of offsets).</summary>
    private static List<Scene> AstronautScenes(out int perSize)
    {
        using var photo = Shared.Decode(Shared.AstronautPath);
        var face = Shared.AstronautFace;
        var scenes = new List<Scene>();
        perSize = 9;
        foreach (var size in AstronautSizes)
        {
            double z = size / (double)face.Width;
            int sw = (int)Math.Round(photo.Width * z), sh = (int)Math.Round(photo.Height * z);
            using var scaled = photo.Resize(new SKImageInfo(sw, sh, SKColorType.Bgra8888, SKAlphaType.Opaque), new SKSamplingOptions(SKFilterMode.Linear, SKMipmapMode.Linear));
            for (int i = 0; i < perSize; i++)
            {
                var canvasBitmap = Shared.Background(Canvas, Canvas, seed: size * 31 + i);
                using var canvas = new SKCanvas(canvasBitmap);
                // Face centre placed at one of 3×3 positions across the canvas (kept inside it).
                double fx = (face.X + face.Width / 2.0) * z, fy = (face.Y + face.Height / 2.0) * z;
                double half = Math.Max(size, face.Height * z) * 0.75;
                double tx = half + (Canvas - 2 * half) * (i % 3) / 2.0, ty = half + (Canvas - 2 * half) * (i / 3) / 2.0;
                float ox = (float)(tx - fx), oy = (float)(ty - fy);
                canvas.DrawBitmap(scaled, ox, oy);
                canvas.Flush();
                var truth = new FaceBox((int)Math.Round(face.X * z + ox), (int)Math.Round(face.Y * z + oy), (int)Math.Round(face.Width * z), (int)Math.Round(face.Height * z));
                scenes.Add(new Scene(canvasBitmap, size, [truth]));
            }
        }
        return scenes;
    }

    /// <summary>FER2013 faces (48×48 crops), <paramref name="perClass"/> per label folder, upscaled to each size and pasted in a grid.</summary>
    private static List<Scene> FerScenes(string folder, int perClass, out int count)
    {
        var files = Directory.GetDirectories(folder).Order(StringComparer.Ordinal)
            .SelectMany(d => Directory.GetFiles(d).Order(StringComparer.Ordinal).Take(perClass)).ToList();
        var faces = files.Select(Shared.Decode).ToList();
        count = faces.Count;
        var scenes = new List<Scene>();
        int seed = 0;
        foreach (var size in FerSizes)
        {
            int cell = (int)(size * 1.8);
            int per = Math.Max(1, Canvas / cell);
            for (int next = 0; next < faces.Count;)
            {
                var bitmap = Shared.Background(Canvas, Canvas, seed++);
                var truth = new List<FaceBox>();
                using var canvas = new SKCanvas(bitmap);
                for (int r = 0; r < per && next < faces.Count; r++)
                    for (int c = 0; c < per && next < faces.Count; c++)
                    {
                        int x = c * cell + (cell - size) / 2, y = r * cell + (cell - size) / 2;
                        using var img = SKImage.FromBitmap(faces[next++]);
                        canvas.DrawImage(img, new SKRect(x, y, x + size, y + size), new SKSamplingOptions(SKCubicResampler.Mitchell));
                        // FER2013 crops run from mid-forehead to the chin; the detector's box covers about 80 % of that.
                        truth.Add(new FaceBox(x, y, size, size));
                    }
                canvas.Flush();
                scenes.Add(new Scene(bitmap, size, truth));
            }
        }
        foreach (var f in faces) f.Dispose();
        return scenes;
    }

    internal static string? Arg(string[] args, string name)
    {
        int i = Array.IndexOf(args, name);
        return i >= 0 && i + 1 < args.Length ? args[i + 1] : null;
    }
}
