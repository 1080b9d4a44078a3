using System.Globalization;
using System.Text;
using Microsoft.ML.Data;

namespace FacialExpression.Data;

/// <summary>A decoded labelled dataset: one contiguous pixel buffer (N × size × size, values in [0, 1]) and label indices.</summary>
internal sealed class LabeledImages
{
    public LabeledImages(IReadOnlyList<string> labels, float[] pixels, int[] targets, int imageSize, int skipped, IReadOnlyList<string> skippedExamples, string source)
    {
        Labels = labels; Pixels = pixels; Targets = targets; ImageSize = imageSize;
        Skipped = skipped; SkippedExamples = skippedExamples; Source = source;
    }

    public IReadOnlyList<string> Labels { get; }
    public float[] Pixels { get; }
    public int[] Targets { get; }
    public int ImageSize { get; }
    public int Count => Targets.Length;
    public int Skipped { get; }
    public IReadOnlyList<string> SkippedExamples { get; }
    public string Source { get; }

    public LabeledImages Subset(IReadOnlyList<int> indices)
    {
        int plane = ImageSize * ImageSize;
        var px = new float[indices.Count * plane];
        var t = new int[indices.Count];
        for (int i = 0; i < indices.Count; i++)
        {
            Array.Copy(Pixels, (long)indices[i] * plane, px, (long)i * plane, plane);
            t[i] = Targets[indices[i]];
        }
        return new LabeledImages(Labels, px, t, ImageSize, 0, Array.Empty<string>(), Source);
    }

    /// <summary>A stratified, seeded split: <paramref name="fraction"/> of every class goes to the second part.</summary>
    public (LabeledImages Train, LabeledImages Validation) StratifiedSplit(double fraction, int seed)
    {
        var rng = new Random(seed);
        var train = new List<int>();
        var val = new List<int>();
        for (int c = 0; c < Labels.Count; c++)
        {
            var members = Enumerable.Range(0, Count).Where(i => Targets[i] == c).ToArray();
            rng.Shuffle(members);
            int nVal = members.Length < 2 ? 0 : Math.Max(1, (int)Math.Round(members.Length * fraction));
            val.AddRange(members.Take(nVal));
            train.AddRange(members.Skip(nVal));
        }
        train.Sort(); val.Sort();
        return (Subset(train), Subset(val));
    }

    public string Describe() =>
        string.Create(CultureInfo.InvariantCulture, $"{Count} images in {Labels.Count} classes from {Source}: ") +
        string.Join(", ", Labels.Select((l, i) => $"{l} {Targets.Count(t => t == i)}"));
}

/// <summary>Reads folder-per-label datasets and FER2013's CSV format.</summary>
internal static class DatasetReader
{
    private static readonly string[] FerCsvLabels = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"];

    /// <summary>True when <paramref name="path"/> names a CSV file rather than a folder.</summary>
    public static bool IsCsv(string path) => path.EndsWith(".csv", StringComparison.OrdinalIgnoreCase) && File.Exists(path);

    /// <summary>Why a FER2013 CSV has no rows of <paramref name="usage"/>, and what to do about it.</summary>
    private static string NoRowsMessage(string full, string usage, IReadOnlyCollection<string> usagesFound)
    {
        if (usagesFound.Count == 0) return $"'{full}' has a header but no rows.";
        if (usagesFound.All(u => u.Length == 0))
            return $"'{full}' has no Usage column (its rows have emotion and pixels only), so it has no '{usage}' rows. FER2013's fer2013.csv has a third column, Usage (Training, PublicTest, PrivateTest); add it, or convert the images to a folder with one subfolder per label.";
        var whatToDo = usage switch
        {
            "PublicTest" => "Validation on a FER2013 CSV reads its 'PublicTest' rows: set ValidationFraction to 0 to train without validation, or ValidationFolder to other validation data.",
            "PrivateTest" => "Evaluate reads a FER2013 CSV's 'PrivateTest' rows: add them, or evaluate on a folder with one subfolder of images per label.",
            _ => $"Training reads a FER2013 CSV's '{usage}' rows: add them, or train on a folder with one subfolder of images per label.",
        };
        return $"'{full}' has no rows with Usage '{usage}'. Usages found: {string.Join(", ", usagesFound)}. {whatToDo}";
    }

    private static readonly EnumerationOptions ClassFolderWalk = new()
    {
        RecurseSubdirectories = true, IgnoreInaccessible = true, AttributesToSkip = FileAttributes.Hidden | FileAttributes.System,
    };

    /// <summary>
    /// Lists the class folders and their files, checking the layout. A training folder needs two classes and refuses an
    /// empty class folder; a test or validation folder (mapped onto a model's <paramref name="knownLabels"/>) needs one
    /// class with images and leaves out an empty folder of a known label, as if it were absent. Labels are folder names in
    /// Unicode normalisation form C, sorted ordinally in that form, so a folder named on a file system that stores
    /// decomposed names (macOS) has the label, and the label order, a model trained elsewhere has.
    /// </summary>
    public static (IReadOnlyList<string> Labels, IReadOnlyList<(string Path, int Label)> Files) ScanFolder(string root, IReadOnlyList<string>? knownLabels = null)
    {
        bool testFolder = knownLabels is not null;
        var known = knownLabels?.Select(Label).ToHashSet(StringComparer.Ordinal);
        int minimumClasses = testFolder ? 1 : 2;
        Guard.NotNullOrEmpty(root, nameof(root));
        var full = Path.GetFullPath(root);
        if (!Directory.Exists(full))
            throw new DatasetException(full, File.Exists(full)
                ? $"'{full}' is a file, not a dataset folder. Pass a folder holding one subfolder per expression (or a fer2013.csv file)."
                : $"Dataset folder '{full}' does not exist. Pass a folder holding one subfolder per expression, e.g. train/happy/*.jpg.");
        var classDirs = Directory.GetDirectories(full)
            .Where(d => !Path.GetFileName(d).StartsWith('.'))
            .OrderBy(d => Label(Path.GetFileName(d)), StringComparer.Ordinal).ToArray();
        if (classDirs.Length == 0)
            throw new DatasetException(full, $"Dataset folder '{full}' has no class subfolders. Put each expression's images in its own subfolder, e.g. '{Path.Combine(full, "happy")}'.");
        if (classDirs.Length < minimumClasses)
            throw new DatasetException(full, $"Dataset folder '{full}' has only one class ('{Path.GetFileName(classDirs[0])}'); at least two class subfolders are needed.");
        var labels = classDirs.Select(d => Label(Path.GetFileName(d))).ToArray();
        var duplicate = labels.GroupBy(l => l, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new DatasetException(full, $"Dataset folder '{full}' has two class subfolders named '{duplicate.Key}' (one spelled with composed, one with decomposed Unicode characters). Merge them into one folder.");
        var files = new List<(string, int)>();
        var kept = new List<string>();
        for (int c = 0; c < classDirs.Length; c++)
        {
            // Hidden files and everything inside hidden folders (.thumbnails, .AppleDouble, …) are not dataset images;
            // the enumeration does not descend into them (or into folders this process may not read), and the filter
            // below also drops dot-names where the file system does not mark them hidden.
            var inClass = Directory.GetFiles(classDirs[c], "*", ClassFolderWalk)
                .Where(f => !Path.GetRelativePath(classDirs[c], f).Split(Path.DirectorySeparatorChar, Path.AltDirectorySeparatorChar).Any(part => part.StartsWith('.')))
                .OrderBy(f => f, StringComparer.Ordinal).ToArray();
            if (inClass.Length == 0)
            {
                if (known?.Contains(labels[c]) == true) continue;
                if (testFolder) { kept.Add(labels[c]); continue; } // an unknown label: refused by name when mapped
                throw new DatasetException(classDirs[c], $"Class folder '{classDirs[c]}' holds no images. Add images or remove the folder (classes found: {string.Join(", ", labels)}).");
            }
            files.AddRange(inClass.Select(f => (f, kept.Count)));
            kept.Add(labels[c]);
        }
        if (kept.Count == 0)
            throw new DatasetException(full, $"Dataset folder '{full}' has class subfolders ({string.Join(", ", labels)}) but no images in any of them. Put each expression's images in its subfolder.");
        return (kept, files);
    }

    /// <summary>A class label as it is stored and compared: the name in Unicode normalisation form C.</summary>
    public static string Label(string? name) => (name ?? "").Normalize(NormalizationForm.FormC);

    /// <summary>Decodes a folder-per-label dataset. Labels are mapped onto <paramref name="expectedLabels"/> when given.</summary>
    public static LabeledImages ReadFolder(string root, ImagePreprocessor pre, bool throwOnUnreadable, IReadOnlyList<string>? expectedLabels = null, CancellationToken ct = default)
    {
        // A test folder (mapped onto a model's labels) may hold a single class; a training folder needs two.
        var (labels, files) = ScanFolder(root, expectedLabels);
        var map = MapLabels(labels, expectedLabels, Path.GetFullPath(root));
        return Decode(files.Select(f => (f.Path, map[f.Label])).ToArray(), expectedLabels ?? labels, pre, throwOnUnreadable, Path.GetFullPath(root), ct);
    }

    /// <summary>Decodes (path, label index) pairs, skipping unreadable files.</summary>
    public static LabeledImages Decode(IReadOnlyList<(string Path, int Label)> files, IReadOnlyList<string> labels, ImagePreprocessor pre, bool throwOnUnreadable, string source, CancellationToken ct = default)
    {
        var (pixels, readable) = DecodeToPixels(files.Select(f => f.Path).ToArray(), pre, source, ct);
        var bad = Enumerable.Range(0, files.Count).Where(i => !readable[i]).Select(i => files[i].Path).ToArray();
        if (bad.Length > 0 && throwOnUnreadable)
            throw new DatasetException(bad[0], $"{bad.Length} file(s) in '{source}' are not readable images, first: {string.Join(", ", bad.Take(5).Select(b => $"'{b}'"))}. Remove them, or set ThrowOnUnreadableImages = false to skip them.");
        var targets = Enumerable.Range(0, files.Count).Where(i => readable[i]).Select(i => files[i].Label).ToArray();
        return new LabeledImages(labels, pixels, targets, pre.ImageSize, bad.Length, bad.Take(5).ToArray(), source);
    }

    /// <summary>Files decoded, preprocessed and freed together by one worker: bounds the full-size images alive at once.</summary>
    private const int FilesPerWorkItem = 16;

    /// <summary>
    /// Decodes and preprocesses files on all cores into one <c>readable × size × size</c> buffer, in file order.
    /// Each worker takes <see cref="FilesPerWorkItem"/> files at a time and disposes them before the next, so only a
    /// few decoded images per core are alive at once (loading FER2013's train split: peak working set 634 MiB against
    /// 1,059 MiB when every file was decoded first), and <see cref="ImageDecoder"/> decodes large JPEGs at reduced scale
    /// (192 phone-sized photos: 66 MiB and 2.2 s against 10 GB and 150 s at full size); see the bench README's "Dataset
    /// loading".
    /// </summary>
    public static (float[] Pixels, bool[] Readable) DecodeToPixels(IReadOnlyList<string> paths, ImagePreprocessor pre, string source, CancellationToken ct = default)
    {
        CheckBufferSize(paths.Count, pre, source);
        var readable = new bool[paths.Count];
        var parts = new float[(paths.Count + FilesPerWorkItem - 1) / FilesPerWorkItem][];
        Parallel.For(0, parts.Length, new ParallelOptions { CancellationToken = ct }, k =>
        {
            var images = new List<MLImage>(FilesPerWorkItem);
            try
            {
                for (int i = k * FilesPerWorkItem; i < Math.Min(paths.Count, (k + 1) * FilesPerWorkItem); i++)
                {
                    if (ImageDecoder.TryDecode(paths[i], pre.ImageSize) is not MLImage image) continue;
                    images.Add(image);
                    readable[i] = true;
                }
                parts[k] = pre.ToPixels(images);
            }
            finally
            {
                foreach (var image in images) image.Dispose();
            }
        });
        var pixels = new float[parts.Sum(p => (long)p.Length)];
        long offset = 0;
        foreach (var part in parts)
        {
            Array.Copy(part, 0, pixels, offset, part.Length);
            offset += part.Length;
        }
        return (pixels, readable);
    }

    /// <summary>Refuses, before any decoding, a dataset whose pixels would not fit in one .NET array.</summary>
    private static void CheckBufferSize(long count, ImagePreprocessor pre, string source)
    {
        long plane = (long)pre.ImageSize * pre.ImageSize;
        if (count * plane > Array.MaxLength)
            throw new DatasetException(source, $"'{source}' has {count} images; at ImageSize {pre.ImageSize} at most {Array.MaxLength / plane} fit in memory as one buffer. Use fewer images or a smaller ImageSize.");
    }

    /// <summary>Runs the ML.NET transform in chunks on all cores.</summary>
    public static float[] ToPixelsParallel(IReadOnlyList<MLImage> images, ImagePreprocessor pre, CancellationToken ct = default)
    {
        CheckBufferSize(images.Count, pre, "images");
        int plane = pre.ImageSize * pre.ImageSize;
        var result = new float[(long)images.Count * plane];
        const int chunk = 2048;
        int chunks = (images.Count + chunk - 1) / chunk;
        var all = images as MLImage[] ?? images.ToArray();
        Parallel.For(0, chunks, new ParallelOptions { CancellationToken = ct }, k =>
        {
            int start = k * chunk, n = Math.Min(chunk, images.Count - start);
            var part = pre.ToPixels(new ArraySegment<MLImage>(all, start, n));
            Array.Copy(part, 0, result, (long)start * plane, part.Length);
        });
        return result;
    }

    /// <summary>Reads FER2013's <c>emotion,pixels,Usage</c> CSV, keeping rows whose Usage is <paramref name="usage"/>.</summary>
    public static LabeledImages ReadFerCsv(string csvPath, string usage, ImagePreprocessor pre, IReadOnlyList<string>? expectedLabels = null, CancellationToken ct = default)
    {
        var full = Path.GetFullPath(csvPath);
        if (!File.Exists(full)) throw new DatasetException(full, $"CSV file '{full}' does not exist.");
        var images = new List<MLImage>();
        var emotions = new List<int>();
        var usages = new SortedSet<string>(StringComparer.Ordinal);
        try
        {
            using var reader = new StreamReader(full);
            var header = reader.ReadLine();
            if (header is null || !header.Replace(" ", "").StartsWith("emotion,pixels", StringComparison.OrdinalIgnoreCase))
                throw new DatasetException(full, $"'{full}' is not in FER2013's CSV format: the header must be 'emotion,pixels,Usage' but was '{header}'.");
            int lineNo = 1;
            string? line;
            while ((line = reader.ReadLine()) is not null)
            {
                lineNo++;
                if (line.Length == 0) continue;
                ct.ThrowIfCancellationRequested();
                var parts = line.Split(',');
                if (parts.Length < 2 || !int.TryParse(parts[0], NumberStyles.Integer, CultureInfo.InvariantCulture, out int emotion) || emotion < 0 || emotion > 6)
                    throw new DatasetException(full, $"Line {lineNo} of '{full}' is malformed: expected 'emotion(0-6),pixels,Usage'.");
                var rowUsage = parts.Length > 2 ? parts[2].Trim() : "";
                usages.Add(rowUsage);
                if (!string.Equals(rowUsage, usage, StringComparison.OrdinalIgnoreCase)) continue;
                var values = parts[1].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                int side = (int)Math.Round(Math.Sqrt(values.Length));
                if (side * side != values.Length || side == 0)
                    throw new DatasetException(full, $"Line {lineNo} of '{full}' has {values.Length} pixel values; a square image is needed (2304 for 48×48).");
                var gray = new byte[values.Length];
                for (int i = 0; i < values.Length; i++)
                    if (!byte.TryParse(values[i], NumberStyles.Integer, CultureInfo.InvariantCulture, out gray[i]))
                        throw new DatasetException(full, $"Line {lineNo} of '{full}' has pixel value '{values[i]}'; values must be integers 0-255.");
                images.Add(ImagePreprocessor.FromGray(gray, side, side, pre.ImageSize));
                emotions.Add(emotion);
            }
            if (images.Count == 0)
                throw new DatasetException(full, NoRowsMessage(full, usage, usages));
            // Like a folder, the rows define the labels: those present, sorted ordinally, so CSV- and folder-trained
            // models are interchangeable and a model never carries a label it was not trained on.
            var present = emotions.Distinct().Order().ToArray();
            var presentLabels = present.Select(e => FerCsvLabels[e]).ToArray();
            var labels = expectedLabels ?? presentLabels.Order(StringComparer.Ordinal).ToArray();
            if (expectedLabels is null && labels.Count < 2)
                throw new DatasetException(full, $"The '{usage}' rows of '{full}' hold only label '{labels[0]}'. Training needs rows of at least two expressions.");
            var targetOf = new int[FerCsvLabels.Length];
            var map = MapLabels(presentLabels, labels, $"{full} [{usage}]");
            for (int i = 0; i < present.Length; i++) targetOf[present[i]] = map[i];
            var pixels = ToPixelsParallel(images, pre, ct);
            return new LabeledImages(labels, pixels, emotions.Select(e => targetOf[e]).ToArray(), pre.ImageSize, 0, Array.Empty<string>(), $"{full} [{usage}]");
        }
        finally
        {
            foreach (var img in images) img.Dispose();
        }
    }

    private static int[] MapLabels(IReadOnlyList<string> found, IReadOnlyList<string>? expected, string source)
    {
        if (expected is null) return Enumerable.Range(0, found.Count).ToArray();
        var known = expected.Select(Label).ToList();
        return found.Select(l =>
        {
            int i = known.IndexOf(l);
            if (i < 0)
                throw new DatasetException(source, $"'{source}' has class '{l}', which the model does not know. The model's labels are: {string.Join(", ", expected)}.");
            return i;
        }).ToArray();
    }
}
