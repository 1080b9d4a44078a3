using System.Formats.Tar;
using System.IO.Compression;

namespace FacialExpression.Tests.Fer2013;

/// <summary>
/// Finds FER2013 (<c>shared/datasets/fer2013-train-val.tar.gz</c> in an ancestor folder of the repository, or the
/// path in <c>FER2013_ARCHIVE</c>) and unpacks it once per test run. The images are never copied into the repository.
/// </summary>
internal static class Fer2013Data
{
    private const string ArchiveName = "fer2013-train-val.tar.gz";
    private static readonly Lazy<string?> LazyRoot = new(Unpack);

    public static string? ArchivePath
    {
        get
        {
            var env = Environment.GetEnvironmentVariable("FER2013_ARCHIVE");
            if (!string.IsNullOrEmpty(env)) return File.Exists(env) ? env : null;
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            {
                var candidate = Path.Combine(dir.FullName, "shared", "datasets", ArchiveName);
                if (File.Exists(candidate)) return candidate;
            }
            return null;
        }
    }

    /// <summary>The folder holding <c>train/</c> and <c>val/</c>; marks the test ignored when the archive is absent.</summary>
    public static string RequireRoot()
    {
        var root = LazyRoot.Value;
        if (root is null)
            Assert.Ignore($"FER2013 archive not found: put {ArchiveName} in shared/datasets/ beside the repository (../shared/datasets) or set FER2013_ARCHIVE.");
        return root!;
    }

    private static string? Unpack()
    {
        var archive = ArchivePath;
        if (archive is null) return null;
        var dest = Path.Combine(Path.GetTempPath(), $"fe-tests-{Environment.ProcessId}", "fer2013-archive");
        Directory.CreateDirectory(dest);
        using (var gz = new GZipStream(File.OpenRead(archive), CompressionMode.Decompress))
            TarFile.ExtractToDirectory(gz, dest, overwriteFiles: true);
        return Path.Combine(dest, "fer2013");
    }

    /// <summary>Copies the first <paramref name="perClass"/> images of each class of a split into a new folder.</summary>
    public static string Subset(string split, int perClass)
    {
        var source = Path.Combine(RequireRoot(), split);
        var dest = TestData.NewFolder($"fer-{split}-{perClass}");
        foreach (var dir in Directory.GetDirectories(source))
        {
            var target = Directory.CreateDirectory(Path.Combine(dest, Path.GetFileName(dir))).FullName;
            foreach (var f in Directory.GetFiles(dir).OrderBy(f => f, StringComparer.Ordinal).Take(perClass))
                File.Copy(f, Path.Combine(target, Path.GetFileName(f)));
        }
        return dest;
    }
}
