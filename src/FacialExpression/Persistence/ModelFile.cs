using System.IO.Compression;
using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using FacialExpression.Data;
using FacialExpression.Modeling;

namespace FacialExpression.Persistence;

/// <summary>
/// What a model file records about one network besides its weights. A single-network file (format version 1) stores
/// exactly this as its <c>metadata.json</c>; an ensemble file (version 2) stores one per network inside
/// <see cref="EnsembleMetadata"/>.
/// </summary>
internal sealed record ModelMetadata
{
    public const string FormatName = "FacialExpression.Model";

    /// <summary>Version written for one network: readable by every release.</summary>
    public const int SingleNetworkFormatVersion = 1;

    /// <summary>Version written for ensembles, and the newest version this library reads.</summary>
    public const int EnsembleFormatVersion = 2;

    public string Format { get; init; } = FormatName;
    public int FormatVersion { get; init; } = SingleNetworkFormatVersion;
    public string LibraryVersion { get; init; } = LibraryVersionString;
    public required string[] Labels { get; init; }
    public required int ImageSize { get; init; }
    public required int CropSize { get; init; }
    [JsonConverter(typeof(JsonStringEnumConverter<ExpressionArchitecture>))]
    public required ExpressionArchitecture Architecture { get; init; }
    public required double Dropout { get; init; }
    public required float Mean { get; init; }
    public required float Std { get; init; }
    public ExpressionTrainingOptions? Options { get; init; }
    public int EpochsRun { get; init; }
    public int BestEpoch { get; init; }
    public double? ValidationAccuracy { get; init; }
    /// <summary>The model's test-time augmentation when saved (absent, so None, in files of earlier releases).</summary>
    [JsonConverter(typeof(JsonStringEnumConverter<TestTimeAugmentation>))]
    public TestTimeAugmentation TestTimeAugmentation { get; init; }
    public DateTime CreatedUtc { get; init; } = DateTime.UtcNow;

    internal static string LibraryVersionString => typeof(ModelMetadata).Assembly.GetName().Version?.ToString() ?? "0";
}

/// <summary>The <c>metadata.json</c> of an ensemble file: shared labels and input size, then one entry per network.</summary>
internal sealed record EnsembleMetadata
{
    public string Format { get; init; } = ModelMetadata.FormatName;
    public int FormatVersion { get; init; } = ModelMetadata.EnsembleFormatVersion;
    public string LibraryVersion { get; init; } = ModelMetadata.LibraryVersionString;
    public required string[] Labels { get; init; }
    public required int ImageSize { get; init; }
    public required ModelMetadata[] Networks { get; init; }
    public DateTime CreatedUtc { get; init; } = DateTime.UtcNow;
}

/// <summary>
/// The model file: a zip holding <c>metadata.json</c>, <c>preprocessing.zip</c> (the fitted ML.NET transformer) and
/// the TorchSharp weights — <c>weights.bin</c> for one network, <c>weights-0.bin</c>, <c>weights-1.bin</c>, … for an
/// ensemble. Written atomically; every way a file can be wrong becomes a <see cref="ModelFormatException"/>.
/// </summary>
internal static class ModelFile
{
    private const string MetadataEntry = "metadata.json";
    private const string PreprocessingEntry = "preprocessing.zip";
    private const string WeightsEntry = "weights.bin";
    private static readonly JsonSerializerOptions Json = new() { WriteIndented = true };

    private static string EnsembleWeightsEntry(int i) => $"weights-{i}.bin";

    /// <summary>Writes one network as a version-1 file, or several as a version-2 ensemble file.</summary>
    public static void Save(string path, IReadOnlyList<ModelMetadata> metas, ImagePreprocessor pre, IReadOnlyList<ExpressionNet> nets)
    {
        Guard.NotNullOrEmpty(path, nameof(path));
        AtomicFile.Write(path, stream =>
        {
            using var zip = new ZipArchive(stream, ZipArchiveMode.Create, leaveOpen: true);
            using (var s = zip.CreateEntry(MetadataEntry).Open())
            {
                if (nets.Count == 1) JsonSerializer.Serialize(s, metas[0] with { FormatVersion = ModelMetadata.SingleNetworkFormatVersion }, Json);
                else JsonSerializer.Serialize(s, new EnsembleMetadata { Labels = metas[0].Labels, ImageSize = metas[0].ImageSize, Networks = metas.ToArray() }, Json);
            }
            using (var s = zip.CreateEntry(PreprocessingEntry, CompressionLevel.NoCompression).Open())
            {
                using var buffer = new MemoryStream();
                pre.Save(buffer);
                buffer.Position = 0;
                buffer.CopyTo(s);
            }
            for (int i = 0; i < nets.Count; i++)
                using (var s = zip.CreateEntry(nets.Count == 1 ? WeightsEntry : EnsembleWeightsEntry(i)).Open()) nets[i].save(s);
        });
    }

    /// <summary>Reads a file of either version: one metadata record and one network per ensemble member.</summary>
    public static (ModelMetadata[] Metas, ImagePreprocessor Pre, ExpressionNet[] Nets) Load(Stream stream, string description)
    {
        if (stream.CanSeek && stream.Position != 0)
        {
            // A zip's offsets count from its first byte: a model embedded after other data is read from where the stream is.
            var rest = new MemoryStream();
            stream.CopyTo(rest);
            rest.Position = 0;
            stream = rest;
        }
        ZipArchive zip;
        try { zip = new ZipArchive(stream, ZipArchiveMode.Read, leaveOpen: true); }
        catch (InvalidDataException e)
        {
            throw new ModelFormatException(description, $"'{description}' is not a FacialExpression model file (not a zip archive, or truncated). Pass a file written by ExpressionModel.Save.", e);
        }
        using (zip)
        {
            var metas = ReadMetadata(zip, description);
            var nets = new List<ExpressionNet>();
            try
            {
                ImagePreprocessor pre;
                using (var s = CopyEntry(zip, PreprocessingEntry, description)) pre = ImagePreprocessor.Load(s, metas[0].ImageSize);
                TorchRuntime.EnsureLoaded();
                for (int i = 0; i < metas.Length; i++)
                {
                    var meta = metas[i];
                    var net = new ExpressionNet(meta.Architecture, meta.Labels.Length, meta.Dropout, meta.Mean, meta.Std);
                    nets.Add(net);
                    using (var s = CopyEntry(zip, metas.Length == 1 ? WeightsEntry : EnsembleWeightsEntry(i), description)) net.load(s);
                    net.eval();
                }
                return (metas, pre, nets.ToArray());
            }
            catch (Exception e)
            {
                foreach (var net in nets) net.Dispose();
                if (e is ModelFormatException or NativeRuntimeException) throw;
                throw new ModelFormatException(description, $"Model file '{description}' is corrupt: {e.Message}", e);
            }
        }
    }

    private static ModelMetadata[] ReadMetadata(ZipArchive zip, string description)
    {
        var entry = zip.GetEntry(MetadataEntry)
            ?? throw new ModelFormatException(description, $"'{description}' is a zip archive but not a FacialExpression model (no {MetadataEntry}). Pass a file written by ExpressionModel.Save.");
        CheckSize(entry, MaxMetadataBytes, description);
        ModelMetadata[] metas;
        try
        {
            JsonNode? root;
            using (var s = entry.Open()) root = JsonNode.Parse(s);
            var format = root?["Format"]?.GetValue<string>();
            if (root is null || format != ModelMetadata.FormatName)
                throw new ModelFormatException(description, $"'{description}' is not a FacialExpression model (format '{format}').");
            int version = root["FormatVersion"]?.GetValue<int>() ?? 0;
            if (version > ModelMetadata.EnsembleFormatVersion)
                throw new ModelFormatException(description, $"Model file '{description}' has format version {version}, newer than this library reads ({ModelMetadata.EnsembleFormatVersion}); it was written by FacialExpression {root["LibraryVersion"]}. Upgrade the FacialExpression package.");
            if (version == ModelMetadata.EnsembleFormatVersion)
            {
                var ensemble = root.Deserialize<EnsembleMetadata>(Json)!;
                if (ensemble.Labels is null || ensemble.Networks is not { Length: >= 2 }
                    || ensemble.Networks.Any(n => n?.Labels is null || !n.Labels.SequenceEqual(ensemble.Labels) || n.ImageSize != ensemble.ImageSize))
                    throw new ModelFormatException(description, $"The metadata of ensemble file '{description}' is inconsistent: it needs two or more networks that share its labels and image size.");
                metas = ensemble.Networks;
            }
            else
            {
                metas = [root.Deserialize<ModelMetadata>(Json)!];
            }
            foreach (var meta in metas)
            {
                if (version < 1 || meta.Labels is not { Length: >= 2 } || meta.ImageSize < 8 || meta.CropSize < 1 || meta.CropSize > meta.ImageSize || meta.Std <= 0
                    || !Enum.IsDefined(meta.TestTimeAugmentation))
                    throw new ModelFormatException(description, $"The metadata of model file '{description}' is inconsistent (format version {version}, {meta.Labels?.Length ?? 0} labels, image size {meta.ImageSize}, crop {meta.CropSize}).");
            }
        }
        catch (Exception e) when (e is JsonException or InvalidDataException or NotSupportedException or InvalidOperationException or FormatException or ArgumentException) // the last: a repeated key
        {
            throw new ModelFormatException(description, $"The metadata of model file '{description}' is corrupt: {e.Message}", e);
        }
        return metas;
    }

    /// <summary>
    /// The largest entry read: far above what any model needs (the metadata is a few KiB, a <c>Large</c> network's
    /// weights about 19 MiB), so a file whose entries claim more is refused before it is inflated (a zip bomb).
    /// </summary>
    private const long MaxEntryBytes = 1L << 30;

    private const long MaxMetadataBytes = 1L << 20;

    private static void CheckSize(ZipArchiveEntry entry, long max, string description)
    {
        if (entry.Length > max)
            throw new ModelFormatException(description, string.Create(System.Globalization.CultureInfo.InvariantCulture,
                $"Model file '{description}' is not one this library wrote: its '{entry.FullName}' entry inflates to {entry.Length:N0} bytes (at most {max:N0} are read)."));
    }

    private static MemoryStream CopyEntry(ZipArchive zip, string name, string description)
    {
        var entry = zip.GetEntry(name) ?? throw new ModelFormatException(description, $"Model file '{description}' is incomplete: the '{name}' entry is missing.");
        CheckSize(entry, MaxEntryBytes, description);
        var copy = new MemoryStream();
        try
        {
            using var s = entry.Open();
            s.CopyTo(copy);
        }
        catch (InvalidDataException e)
        {
            throw new ModelFormatException(description, $"Model file '{description}' is corrupt: the '{name}' entry cannot be read ({e.Message}).", e);
        }
        copy.Position = 0;
        return copy;
    }
}
