namespace FacialExpression;

/// <summary>Writes files through a temporary sibling and a rename, so readers never see a half-written file.</summary>
internal static class AtomicFile
{
    public static void Write(string path, Action<Stream> write, CancellationToken ct = default)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full)!;
        Directory.CreateDirectory(dir);
        var temp = Path.Combine(dir, TemporaryName(Path.GetFileName(full), Guid.NewGuid().ToString("N")));
        try
        {
            using (var stream = new FileStream(temp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None)) write(stream);
            // Reopened for the flush to disk: some writers (TorchSharp's module.save) close the stream they are given.
            using (var sync = new FileStream(temp, FileMode.Open, FileAccess.Write, FileShare.None)) sync.Flush(flushToDisk: true);
            ct.ThrowIfCancellationRequested();
            File.Move(temp, full, overwrite: true);
        }
        catch
        {
            try { File.Delete(temp); } catch (IOException) { } catch (UnauthorizedAccessException) { }
            throw;
        }
    }

    /// <summary>Temporary files that writes of <paramref name="namePattern"/> (a file name, may hold <c>*</c>) in <paramref name="folder"/> left, e.g. when the process was killed mid-write.</summary>
    public static IEnumerable<string> TemporaryFiles(string folder, string namePattern) =>
        Directory.EnumerateFiles(folder, TemporaryName(namePattern, "*"));

    private static string TemporaryName(string fileName, string unique) => $".{fileName}.{unique}.tmp";

    public static void WriteText(string path, string text) =>
        Write(path, s => { using var w = new StreamWriter(s, leaveOpen: true); w.Write(text); });
}
