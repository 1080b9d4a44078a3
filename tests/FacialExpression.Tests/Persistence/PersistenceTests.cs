using System.IO.Compression;
using FacialExpression.Tests.Prediction;

namespace FacialExpression.Tests.Persistence;

public sealed class PersistenceTests
{
    [Test]
    public void SaveThenLoad_PredictsIdentically()
    {
        var path = PredictionTests.SaveShared();
        var images = TestData.SomeTestImages(3);
        using var loaded = ExpressionModel.Load(path);
        Assert.That(loaded.Labels, Is.EqualTo(TestData.Model.Labels));
        var expected = TestData.Model.PredictBatch(images);
        var actual = loaded.PredictBatch(images);
        for (int i = 0; i < images.Length; i++) Assert.That(actual[i].Scores, Is.EqualTo(expected[i].Scores));
        using var fromStream = ExpressionModel.Load(new MemoryStream(File.ReadAllBytes(path)));
        // Same call shape as the reference: convolution results may differ in the last bit between batch sizes.
        Assert.That(fromStream.Predict(images[0]).Scores, Is.EqualTo(TestData.Model.Predict(images[0]).Scores));
    }

    [Test]
    public void SaveThenLoad_KeepsTheTestTimeAugmentation()
    {
        var path = Path.Combine(TestData.NewFolder("tta"), "model.fexm");
        var image = TestData.SomeTestImages(1)[0];
        using (var saved = ExpressionModel.Load(PredictionTests.SaveShared()))
        {
            saved.TestTimeAugmentation = TestTimeAugmentation.TenCrop;
            saved.Save(path);
        }
        using var loaded = ExpressionModel.Load(path);
        Assert.That(loaded.TestTimeAugmentation, Is.EqualTo(TestTimeAugmentation.TenCrop));
        using var reference = ExpressionModel.Load(PredictionTests.SaveShared());
        Assert.That(reference.TestTimeAugmentation, Is.EqualTo(TestTimeAugmentation.None), "the shared model was saved without TTA");
        reference.TestTimeAugmentation = TestTimeAugmentation.TenCrop;
        Assert.That(loaded.Predict(image).Scores, Is.EqualTo(reference.Predict(image).Scores));
    }

    [Test]
    public void Load_FromAStreamPositionedAfterOtherData_ReadsTheModelFromThere()
    {
        var bytes = File.ReadAllBytes(PredictionTests.SaveShared());
        using var stream = new MemoryStream();
        stream.Write("sixteen byte hdr"u8);
        stream.Write(bytes);
        stream.Position = 16;
        using var loaded = ExpressionModel.Load(stream);
        Assert.That(loaded.Labels, Is.EqualTo(TestData.Model.Labels));
    }

    [Test]
    public void Save_ReplacesAnExistingFileAndLeavesNoTemporaryFiles()
    {
        var dir = TestData.NewFolder("save");
        var path = Path.Combine(dir, "model.fexm");
        File.WriteAllText(path, "old");
        TestData.Model.Save(path);
        Assert.That(Directory.GetFiles(dir), Is.EqualTo(new[] { path }));
        using var loaded = ExpressionModel.Load(path);
        Assert.That(loaded.Labels, Has.Count.EqualTo(5));
    }

    [Test]
    public void Load_MissingFile_ThrowsNamingIt()
    {
        var path = Path.Combine(TestData.NewFolder("missing"), "nope.fexm");
        var e = Assert.Throws<ModelFormatException>(() => ExpressionModel.Load(path));
        Assert.That(e!.Message, Does.Contain(path).And.Contain("does not exist"));
    }

    [Test]
    public void Load_Folder_ThrowsSayingItIsAFolder()
    {
        var folder = TestData.NewFolder("models");
        var e = Assert.Throws<ModelFormatException>(() => ExpressionModel.Load(folder));
        Assert.That(e!.Message, Does.Contain(folder).And.Contain("is a folder"));
    }

    [Test]
    public void Load_MetadataWithARepeatedKey_ThrowsModelFormatException()
    {
        var path = RewriteMetadata(json => json.Replace("\"FormatVersion\": 1", "\"FormatVersion\": 1, \"FormatVersion\": 1"));
        var e = Assert.Throws<ModelFormatException>(() => ExpressionModel.Load(path));
        Assert.That(e!.Message, Does.Contain("corrupt"));
    }

    [Test]
    public void Load_EntryClaimingMoreThanAModelNeeds_IsRefusedBeforeInflating()
    {
        var path = RewriteMetadata(json => json + new string(' ', 2 << 20)); // 2 MiB of padding compresses to a few KiB
        Assert.That(new FileInfo(path).Length, Is.LessThan(1 << 20), "the file itself is small");
        var e = Assert.Throws<ModelFormatException>(() => ExpressionModel.Load(path));
        Assert.That(e!.Message, Does.Contain("metadata.json").And.Contain("inflates to"));
    }

    [Test]
    public void Save_KeepsNoFolderPathOfTheTrainingMachine()
    {
        var data = TestData.TinyDataset(perClass: 4);
        var validation = TestData.TinyDataset(perClass: 2, seed: 8);
        var checkpoints = TestData.NewFolder("ckpt");
        using var model = ExpressionModel.Train(data, TestData.FastOptions with { Epochs = 1, ValidationFolder = validation + "/", CheckpointFolder = checkpoints });
        var path = Path.Combine(TestData.NewFolder("private"), "model.fexm");
        model.Save(path);

        string json;
        using (var zip = ZipFile.OpenRead(path))
        using (var r = new StreamReader(zip.GetEntry("metadata.json")!.Open())) json = r.ReadToEnd();
        Assert.That(json, Does.Not.Contain(Path.GetDirectoryName(validation)!).And.Not.Contain(checkpoints));
        Assert.That(json, Does.Contain($"\"ValidationFolder\": \"{Path.GetFileName(validation)}\""), "the folder's name says what validated the model");
    }

    [Test]
    public void Load_NotAZip_Throws()
    {
        var path = Path.Combine(TestData.NewFolder("foreign"), "model.fexm");
        File.WriteAllText(path, "this is not a model");
        var e = Assert.Throws<ModelFormatException>(() => ExpressionModel.Load(path));
        Assert.That(e!.Message, Does.Contain(path).And.Contain("not a FacialExpression model"));
    }

    [Test]
    public void Load_TruncatedFile_Throws()
    {
        var bytes = File.ReadAllBytes(PredictionTests.SaveShared());
        foreach (var length in new[] { 10, bytes.Length / 3, bytes.Length - 20 })
        {
            var path = Path.Combine(TestData.NewFolder("truncated"), "model.fexm");
            File.WriteAllBytes(path, bytes[..length]);
            Assert.Throws<ModelFormatException>(() => ExpressionModel.Load(path), $"truncated to {length} bytes");
        }
    }

    [Test]
    public void Load_ForeignZip_Throws()
    {
        var path = Path.Combine(TestData.NewFolder("zip"), "model.fexm");
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Create)) zip.CreateEntry("readme.txt");
        var e = Assert.Throws<ModelFormatException>(() => ExpressionModel.Load(path));
        Assert.That(e!.Message, Does.Contain("metadata.json"));
    }

    [Test]
    public void Load_NewerFormatVersion_ThrowsAskingForAnUpgrade()
    {
        var path = RewriteMetadata(json => json.Replace("\"FormatVersion\": 1", "\"FormatVersion\": 99"));
        var e = Assert.Throws<ModelFormatException>(() => ExpressionModel.Load(path));
        Assert.That(e!.Message, Does.Contain("format version 99").And.Contain("Upgrade"));
    }

    [Test]
    public void Load_CorruptWeights_Throws()
    {
        var source = PredictionTests.SaveShared();
        var path = Path.Combine(TestData.NewFolder("weights"), "model.fexm");
        File.Copy(source, path);
        using (var zip = ZipFile.Open(path, ZipArchiveMode.Update))
        {
            zip.GetEntry("weights.bin")!.Delete();
            using var s = zip.CreateEntry("weights.bin").Open();
            s.Write(new byte[100]);
        }
        Assert.Throws<ModelFormatException>(() => ExpressionModel.Load(path));
    }

    private static string RewriteMetadata(Func<string, string> edit)
    {
        var path = Path.Combine(TestData.NewFolder("meta"), "model.fexm");
        File.Copy(PredictionTests.SaveShared(), path);
        using var zip = ZipFile.Open(path, ZipArchiveMode.Update);
        var entry = zip.GetEntry("metadata.json")!;
        string json;
        using (var r = new StreamReader(entry.Open())) json = r.ReadToEnd();
        entry.Delete();
        using (var w = new StreamWriter(zip.CreateEntry("metadata.json").Open())) w.Write(edit(json));
        return path;
    }
}
