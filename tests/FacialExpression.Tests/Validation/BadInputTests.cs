namespace FacialExpression.Tests.Validation;

public sealed class BadInputTests
{
    [Test]
    public void Train_MissingFolder_ThrowsNamingThePath()
    {
        var path = Path.Combine(TestData.NewFolder("missing"), "nope");
        var e = Assert.Throws<DatasetException>(() => ExpressionModel.Train(path, TestData.FastOptions));
        Assert.That(e!.Path, Is.EqualTo(path));
        Assert.That(e.Message, Does.Contain(path).And.Contain("does not exist"));
    }

    [Test]
    public void Train_FolderWithoutClassSubfolders_Throws()
    {
        var dir = TestData.NewFolder("flat");
        File.Copy(TestData.SomeTestImages(1)[0], Path.Combine(dir, "a.png"));
        var e = Assert.Throws<DatasetException>(() => ExpressionModel.Train(dir, TestData.FastOptions));
        Assert.That(e!.Message, Does.Contain(dir).And.Contain("no class subfolders"));
    }

    [Test]
    public void Train_SingleClass_Throws()
    {
        var dir = TestData.NewFolder("one");
        Directory.CreateDirectory(Path.Combine(dir, "happy"));
        File.Copy(TestData.SomeTestImages(1)[0], Path.Combine(dir, "happy", "a.png"));
        var e = Assert.Throws<DatasetException>(() => ExpressionModel.Train(dir, TestData.FastOptions));
        Assert.That(e!.Message, Does.Contain("only one class").And.Contain("happy"));
    }

    [Test]
    public void Train_EmptyClassFolder_ThrowsNamingIt()
    {
        var dir = TestData.TinyDataset(perClass: 3);
        var empty = Directory.CreateDirectory(Path.Combine(dir, "fear")).FullName;
        var e = Assert.Throws<DatasetException>(() => ExpressionModel.Train(dir, TestData.FastOptions));
        Assert.That(e!.Path, Is.EqualTo(empty));
        Assert.That(e.Message, Does.Contain("holds no images"));
    }

    [Test]
    public void Train_UnreadableFiles_AreSkippedCountedAndNamed()
    {
        var dir = TestData.TinyDataset(perClass: 8);
        var bad = Path.Combine(dir, "happy", "broken.jpg");
        File.WriteAllText(bad, "not an image");
        File.WriteAllText(Path.Combine(dir, "sad", "notes.txt"), "hello");
        var reports = new List<TrainingProgress>();
        using var model = ExpressionModel.Train(dir, TestData.FastOptions with { Epochs = 1 }, new Training.SyncProgress(reports.Add));
        var warning = reports.Single(r => r.Message?.StartsWith("Skipped") == true).Message!;
        Assert.That(warning, Does.Contain("Skipped 2 unreadable").And.Contain(bad));
    }

    [Test]
    public void Train_ClassWithOnlyUnreadableFiles_ThrowsNamingTheClassAndAFile()
    {
        var dir = TestData.TinyDataset(perClass: 4);
        var bad = Path.Combine(Directory.CreateDirectory(Path.Combine(dir, "contempt")).FullName, "broken.jpg");
        File.WriteAllText(bad, "not an image");
        var e = Assert.Throws<DatasetException>(() => ExpressionModel.Train(dir, TestData.FastOptions));
        Assert.That(e!.Message, Does.Contain("No readable training image of 'contempt'").And.Contain(bad));
    }

    [Test]
    public void Train_Fer2013CsvWhosePublicTestHasALabelTheTrainingRowsLack_ThrowsNamingIt()
    {
        var csv = Path.Combine(TestData.NewFolder("csv-extra-label"), "fer2013.csv");
        Training.Fer2013Csv.Write(csv, TestData.TinyDataset(perClass: 4), "Training"); // five labels, no disgust
        File.AppendAllText(csv, "1," + string.Join(' ', Enumerable.Repeat("128", 48 * 48)) + ",PublicTest\n");
        var e = Assert.Throws<DatasetException>(() => ExpressionModel.Train(csv, TestData.FastOptions with { Epochs = 1 }));
        Assert.That(e!.Message, Does.Contain("'disgust'").And.Contain("PublicTest").And.Contain("does not know"));
    }

    [Test]
    public void Train_Fer2013CsvWithoutPublicTestRows_SaysHowToTrainWithoutThem()
    {
        var csv = Path.Combine(TestData.NewFolder("csv-training-only"), "fer2013.csv");
        Training.Fer2013Csv.Write(csv, TestData.TinyDataset(perClass: 4), "Training");
        var e = Assert.Throws<DatasetException>(() => ExpressionModel.Train(csv, TestData.FastOptions with { Epochs = 1 }));
        Assert.That(e!.Message, Does.Contain("no rows with Usage 'PublicTest'").And.Contain("Usages found: Training").And.Contain("ValidationFraction to 0"));
        Assert.That(e.Path, Is.EqualTo(csv));
        using var model = ExpressionModel.Train(csv, TestData.FastOptions with { Epochs = 1, ValidationFraction = 0 });
        Assert.That(model.ValidationAccuracy, Is.Null, "trained without validation, as the message says");
    }

    [Test]
    public void Train_CsvWithoutAUsageColumn_SaysTheColumnIsMissing()
    {
        var csv = Path.Combine(TestData.NewFolder("csv-no-usage"), "train.csv");
        File.WriteAllText(csv, "emotion,pixels\n" + string.Concat(Enumerable.Range(0, 4).Select(i =>
            $"{i % 2},{string.Join(' ', Enumerable.Repeat("128", 48 * 48))}\n")));
        var e = Assert.Throws<DatasetException>(() => ExpressionModel.Train(csv, TestData.FastOptions with { Epochs = 1 }));
        Assert.That(e!.Message, Does.Contain("no Usage column").And.Contain("Training, PublicTest, PrivateTest"));
    }

    [Test]
    public void Train_Fer2013CsvWithOneLabel_Throws()
    {
        var csv = Path.Combine(TestData.NewFolder("csv-one-label"), "fer2013.csv");
        File.WriteAllText(csv, "emotion,pixels,Usage\n" + string.Concat(Enumerable.Range(0, 3).Select(_ =>
            "3," + string.Join(' ', Enumerable.Repeat("128", 48 * 48)) + ",Training\n")));
        var e = Assert.Throws<DatasetException>(() => ExpressionModel.Train(csv, TestData.FastOptions));
        Assert.That(e!.Message, Does.Contain("only label 'happy'").And.Contain(csv));
    }

    [Test]
    public void Train_ValidationFolderWithOnlyUnreadableFiles_ThrowsNamingIt()
    {
        var dir = TestData.TinyDataset(perClass: 4);
        var val = TestData.NewFolder("broken-val");
        File.WriteAllText(Path.Combine(Directory.CreateDirectory(Path.Combine(val, "happy")).FullName, "broken.jpg"), "not an image");
        var e = Assert.Throws<DatasetException>(() => ExpressionModel.Train(dir, TestData.FastOptions with { ValidationFolder = val }));
        Assert.That(e!.Path, Is.EqualTo(val));
        Assert.That(e.Message, Does.Contain("No readable image in the validation folder"));
    }

    [Test]
    public void Evaluate_FolderWithASingleClass_ReportsOnThatClass()
    {
        var dir = TestData.NewFolder("only-happy");
        var happy = Directory.CreateDirectory(Path.Combine(dir, "happy")).FullName;
        foreach (var f in Directory.GetFiles(Path.Combine(TestData.TestFolder, "happy")).Take(20))
            File.Copy(f, Path.Combine(happy, Path.GetFileName(f)));
        var report = TestData.Model.Evaluate(dir);
        Assert.That(report.Count, Is.EqualTo(20));
        Assert.That(report.Labels, Is.EqualTo(TestData.Model.Labels), "the report keeps every label of the model");
        Assert.That(report.Accuracy, Is.GreaterThan(0.5));
        var confusion = report.ConfusionMatrix;
        var occurring = report.PerClass.Where((c, i) => c.Support > 0 || Enumerable.Range(0, report.Labels.Count).Any(a => confusion[a, i] > 0)).ToList();
        Assert.That(occurring, Has.Count.LessThan(report.Labels.Count));
        Assert.That(report.MacroF1, Is.EqualTo(occurring.Average(c => c.F1)).Within(1e-12), "labels absent from test set and predictions are left out");
    }

    [Test]
    public void OptionOutOfRange_MessageUsesInvariantNumbers_AndSaysGreaterThanZero()
    {
        var culture = System.Globalization.CultureInfo.CurrentCulture;
        try
        {
            System.Globalization.CultureInfo.CurrentCulture = new System.Globalization.CultureInfo("de-DE");
            var e = Assert.Throws<ArgumentOutOfRangeException>(() => (TestData.FastOptions with { ValidationFraction = 0.7 }).Validate())!;
            Assert.That(e.Message, Does.Contain("between 0 and 0.5; it was 0.7"));
            e = Assert.Throws<ArgumentOutOfRangeException>(() => (TestData.FastOptions with { LearningRate = 0 }).Validate())!;
            Assert.That(e.Message, Does.Contain("LearningRate must be greater than 0 and at most 10; it was 0"));
        }
        finally
        {
            System.Globalization.CultureInfo.CurrentCulture = culture;
        }
    }

    [Test]
    public void Evaluate_EmptyClassFolder_IsLeftOutLikeAMissingOne()
    {
        var dir = TestData.TinyDataset(perClass: 2); // 5 labels × 2 images
        var withoutEmpty = TestData.Model.Evaluate(dir);
        foreach (var f in Directory.GetFiles(Path.Combine(dir, "sad"))) File.Delete(f);
        Directory.CreateDirectory(Path.Combine(dir, "sad", "later"));
        var report = TestData.Model.Evaluate(dir);
        Assert.That(report.Count, Is.EqualTo(8), "the images of the four other classes");
        Assert.That(report.PerClass[TestData.Model.Labels.ToList().IndexOf("sad")].Support, Is.Zero);
        Assert.That(withoutEmpty.Count, Is.EqualTo(10));

        Directory.CreateDirectory(Path.Combine(dir, "suprise"));
        var e = Assert.Throws<DatasetException>(() => TestData.Model.Evaluate(dir));
        Assert.That(e!.Message, Does.Contain("'suprise', which the model does not know"), "an empty folder of a misspelt label is still named");
    }

    [Test]
    public void Evaluate_FolderWhoseClassFoldersAreAllEmpty_ThrowsNamingIt()
    {
        var dir = TestData.NewFolder("all-empty");
        foreach (var label in new[] { "happy", "sad" }) Directory.CreateDirectory(Path.Combine(dir, label));
        var e = Assert.Throws<DatasetException>(() => TestData.Model.Evaluate(dir));
        Assert.That(e!.Path, Is.EqualTo(dir));
        Assert.That(e.Message, Does.Contain("no images in any of them").And.Contain("happy, sad"));
    }

    [Test]
    public void Labels_AreFolderNamesInComposedUnicode_SoDecomposedFolderNamesMatch()
    {
        const string Composed = "caf\u00e9", Decomposed = "cafe\u0301";
        var train = TestData.TinyDataset(perClass: 4);
        Directory.Move(Path.Combine(train, "happy"), Path.Combine(train, Decomposed));
        using var model = ExpressionModel.Train(train, TestData.FastOptions with { Epochs = 1 });
        Assert.That(model.Labels, Does.Contain(Composed).And.Not.Contain(Decomposed));

        var test = TestData.TinyDataset(perClass: 2, seed: 9);
        Directory.Move(Path.Combine(test, "happy"), Path.Combine(test, Composed));
        Assert.That(model.Evaluate(test).Count, Is.EqualTo(10), "a folder spelled in either form maps onto the label");

        Directory.CreateDirectory(Path.Combine(train, Composed));
        Assume.That(Directory.GetDirectories(train), Has.Length.EqualTo(6), "a file system that tells the two spellings apart (not APFS)");
        File.Copy(Directory.GetFiles(Path.Combine(train, "sad"))[0], Path.Combine(train, Composed, "x.png"));
        var e = Assert.Throws<DatasetException>(() => ExpressionModel.Train(train, TestData.FastOptions with { Epochs = 1 }));
        Assert.That(e!.Message, Does.Contain("two class subfolders named").And.Contain(Composed));
    }

    [Test]
    public void Evaluate_FolderWithOnlyUnreadableImages_ThrowsNamingTheFolderAndAFile()
    {
        var dir = TestData.NewFolder("all-broken");
        foreach (var label in new[] { "happy", "sad" })
        {
            Directory.CreateDirectory(Path.Combine(dir, label));
            File.WriteAllText(Path.Combine(dir, label, "broken.jpg"), "not an image");
        }
        var bad = Path.Combine(dir, "happy", "broken.jpg");
        var e = Assert.Throws<DatasetException>(() => TestData.Model.Evaluate(dir));
        Assert.That(e!.Message, Does.Contain(dir).And.Contain("no readable image").And.Contain(bad));
    }

    [Test]
    public void Train_UnreadableFileWithThrowOption_Throws()
    {
        var dir = TestData.TinyDataset(perClass: 4);
        var bad = Path.Combine(dir, "happy", "broken.jpg");
        File.WriteAllBytes(bad, [0xFF, 0xD8, 0xFF, 0x00, 0x01]);
        var e = Assert.Throws<DatasetException>(() => ExpressionModel.Train(dir, TestData.FastOptions with { ThrowOnUnreadableImages = true }));
        Assert.That(e!.Message, Does.Contain(bad));
    }

    [TestCase(nameof(ExpressionTrainingOptions.Epochs))]
    [TestCase(nameof(ExpressionTrainingOptions.BatchSize))]
    [TestCase(nameof(ExpressionTrainingOptions.LearningRate))]
    [TestCase(nameof(ExpressionTrainingOptions.ValidationFraction))]
    [TestCase(nameof(ExpressionTrainingOptions.CropSize))]
    [TestCase(nameof(ExpressionTrainingOptions.Architecture))]
    [TestCase(nameof(ExpressionTrainingOptions.MixupAlpha))]
    [TestCase(nameof(ExpressionTrainingOptions.WeightAveragingDecay))]
    [TestCase(nameof(ExpressionTrainingOptions.Networks))]
    [TestCase(nameof(ExpressionTrainingOptions.MutualLearning))]
    public void Train_OutOfRangeOption_ThrowsNamingTheProperty(string property)
    {
        var o = property switch
        {
            nameof(ExpressionTrainingOptions.Epochs) => TestData.FastOptions with { Epochs = 0 },
            nameof(ExpressionTrainingOptions.BatchSize) => TestData.FastOptions with { BatchSize = -1 },
            nameof(ExpressionTrainingOptions.LearningRate) => TestData.FastOptions with { LearningRate = double.NaN },
            nameof(ExpressionTrainingOptions.ValidationFraction) => TestData.FastOptions with { ValidationFraction = 0.9 },
            nameof(ExpressionTrainingOptions.CropSize) => TestData.FastOptions with { CropSize = 64 },
            nameof(ExpressionTrainingOptions.MixupAlpha) => TestData.FastOptions with { MixupAlpha = -0.2 },
            nameof(ExpressionTrainingOptions.WeightAveragingDecay) => TestData.FastOptions with { WeightAveragingDecay = 1 },
            nameof(ExpressionTrainingOptions.Networks) => TestData.FastOptions with { Networks = 0 },
            nameof(ExpressionTrainingOptions.MutualLearning) => TestData.FastOptions with { Networks = 2, MutualLearning = -1 },
            _ => TestData.FastOptions with { Architecture = (ExpressionArchitecture)42 },
        };
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ExpressionModel.Train(TestData.TrainFolder, o));
        Assert.That(e!.ParamName, Is.EqualTo(property));
    }

    [Test]
    public void Train_EmptyValidationFolder_ThrowsNamingTheOptionBeforeReadingAnything()
    {
        var e = Assert.Throws<ArgumentException>(() => ExpressionModel.Train("/no/such/folder", TestData.FastOptions with { ValidationFolder = "" }));
        Assert.That(e!.ParamName, Is.EqualTo(nameof(ExpressionTrainingOptions.ValidationFolder)));
        Assert.That(e.Message, Does.Contain("leave it null"));
    }

    [Test]
    public void Load_StreamThatCannotBeRead_ThrowsArgumentException()
    {
        using var writeOnly = new FileStream(Path.Combine(TestData.NewFolder("write-only"), "model.fexm"), FileMode.Create, FileAccess.Write);
        var e = Assert.Throws<ArgumentException>(() => ExpressionModel.Load(writeOnly));
        Assert.That(e!.ParamName, Is.EqualTo("stream"));
    }

    [Test]
    public void Train_MutualLearningWithoutPeersOrWithMixup_ThrowsSayingWhatToChange()
    {
        var alone = Assert.Throws<ArgumentOutOfRangeException>(() => ExpressionModel.Train("/no/such/folder", TestData.FastOptions with { MutualLearning = 1 }));
        Assert.That(alone!.ParamName, Is.EqualTo(nameof(ExpressionTrainingOptions.MutualLearning)));
        Assert.That(alone.Message, Does.Contain("set Networks to 2 or more"));
        var mixed = Assert.Throws<ArgumentOutOfRangeException>(() => ExpressionModel.Train("/no/such/folder", TestData.FastOptions with { Networks = 2, MutualLearning = 1, MixupAlpha = 0.2 }));
        Assert.That(mixed!.Message, Does.Contain("MixupAlpha (0.2)").And.Contain("Set one of them to 0"));
    }

    [Test]
    public void Train_CropTooSmallForTheArchitecture_ThrowsNamingCropSizeBeforeReadingData()
    {
        // Standard's four 2×2 poolings need a 16-pixel crop; ImageSize 16 gives a 13-pixel default crop.
        var o = TestData.FastOptions with { Architecture = ExpressionArchitecture.Standard, ImageSize = 16 };
        var e = Assert.Throws<ArgumentOutOfRangeException>(() => ExpressionModel.Train("/no/such/folder", o));
        Assert.That(e!.ParamName, Is.EqualTo(nameof(ExpressionTrainingOptions.CropSize)));
        Assert.That(e.Message, Does.Contain("between 16").And.Contain("it was 13"));
        Assert.DoesNotThrow(() => ExpressionModel.Train(TestData.TinyDataset(perClass: 2), o with { CropSize = 16, Epochs = 1 }).Dispose());
    }

    [Test]
    public void Evaluate_SkipsFilesInsideHiddenSubfoldersButReadsOtherSubfolders()
    {
        var dir = TestData.TinyDataset(perClass: 2); // 5 labels × 2 images
        var image = Directory.GetFiles(Path.Combine(dir, "happy")).First();
        File.Copy(image, Path.Combine(Directory.CreateDirectory(Path.Combine(dir, "happy", ".thumbnails")).FullName, "thumb.png"));
        File.WriteAllText(Path.Combine(Directory.CreateDirectory(Path.Combine(dir, "sad", ".AppleDouble")).FullName, "fork.png"), "not an image");
        File.Copy(image, Path.Combine(Directory.CreateDirectory(Path.Combine(dir, "happy", "session2")).FullName, "more.png"));
        var report = TestData.Model.Evaluate(dir);
        Assert.That(report.Count, Is.EqualTo(11), "10 images plus the one in happy/session2; none from hidden folders");
        Assert.That(report.SkippedImages, Is.Zero, "the non-image in sad/.AppleDouble is not even tried");
    }

    [Test]
    public void Evaluate_FolderWithUnknownLabel_ThrowsListingTheModelsLabels()
    {
        var dir = TestData.TinyDataset(perClass: 2);
        Directory.Move(Path.Combine(dir, "sad"), Path.Combine(dir, "bored"));
        var e = Assert.Throws<DatasetException>(() => TestData.Model.Evaluate(dir));
        Assert.That(e!.Message, Does.Contain("bored").And.Contain("angry, happy, neutral, sad, surprise"));
    }

    [Test]
    public void Predict_MissingOrNonImageFile_ThrowsNamingIt()
    {
        var dir = TestData.NewFolder("predict");
        var missing = Path.Combine(dir, "missing.png");
        var text = Path.Combine(dir, "text.png");
        File.WriteAllText(text, "not an image");
        Assert.That(Assert.Throws<DatasetException>(() => TestData.Model.Predict(missing))!.Message, Does.Contain(missing));
        Assert.That(Assert.Throws<DatasetException>(() => TestData.Model.Predict(text))!.Message, Does.Contain(text));
        Assert.That(Assert.Throws<DatasetException>(() => TestData.Model.PredictBatch([TestData.SomeTestImages(1)[0], text]))!.Message, Does.Contain(text));
        Assert.That(Assert.Throws<DatasetException>(() => TestData.Model.PredictBatch([TestData.SomeTestImages(1)[0], missing]))!.Message, Does.Contain(missing));
        Assert.That(Assert.Throws<ArgumentException>(() => TestData.Model.PredictBatch([TestData.SomeTestImages(1)[0], null!]))!.Message, Does.Contain("path 1"));
        Assert.Throws<DatasetException>(() => TestData.Model.Predict(new MemoryStream([1, 2, 3])));
        Assert.Throws<ArgumentException>(() => TestData.Model.Predict(new byte[10], 4, 4));
    }
}
