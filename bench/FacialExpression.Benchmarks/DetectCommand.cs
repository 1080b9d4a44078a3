using System.Diagnostics;
using System.Globalization;

namespace FacialExpression.Benchmarks;

/// <summary>Prints the faces the cascade detector finds in one image with given settings, and the CPU time it took.</summary>
internal static class DetectCommand
{
    public static int Run(string[] args)
    {
        var path = args.Length > 0 && !args[0].StartsWith("--", StringComparison.Ordinal) ? args[0] : Shared.AstronautPath;
        var options = new CascadeFaceDetectorOptions
        {
            CascadeFile = RecallStudy.Arg(args, "--cascade"),
            ScaleFactor = double.Parse(RecallStudy.Arg(args, "--sf") ?? "1.1", CultureInfo.InvariantCulture),
            MinNeighbors = int.Parse(RecallStudy.Arg(args, "--mn") ?? "3", CultureInfo.InvariantCulture),
        };
        int det = int.Parse(RecallStudy.Arg(args, "--det") ?? "320", CultureInfo.InvariantCulture);
        using var detector = new CascadeFaceDetector(options);
        using var photo = Shared.Decode(path);
        using var small = Shared.Downscale(photo, det);
        var bgra = Shared.Bgra(small);
        double k = (double)photo.Width / small.Width;
        IReadOnlyList<DetectedFace> faces = detector.Detect(bgra, small.Width, small.Height);
        const int Runs = 20;
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var wall = Stopwatch.StartNew();
        for (int i = 0; i < Runs; i++) faces = detector.Detect(bgra, small.Width, small.Height);
        double wallMs = wall.Elapsed.TotalMilliseconds / Runs;
        double cpuMs = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds / Runs;
        Console.WriteLine(string.Create(CultureInfo.InvariantCulture, $"{Path.GetFileName(path)} {photo.Width}×{photo.Height}, searched at {small.Width}×{small.Height}: {faces.Count} face(s); {wallMs:F1} ms wall, {cpuMs:F1} ms CPU per detection"));
        foreach (var f in faces)
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  x={f.Box.X * k:F0} y={f.Box.Y * k:F0} {f.Box.Width * k:F0}×{f.Box.Height * k:F0}  confidence {f.Confidence:F2}  IoU with her face {new FaceBox((int)(f.Box.X * k), (int)(f.Box.Y * k), (int)(f.Box.Width * k), (int)(f.Box.Height * k)).IntersectionOverUnion(Shared.AstronautFace):F2}"));
        return 0;
    }
}
