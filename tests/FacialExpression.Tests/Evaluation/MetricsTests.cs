using FacialExpression.Evaluation;

namespace FacialExpression.Tests.Evaluation;

public sealed class MetricsTests
{
    private static readonly string[] Labels = ["a", "b", "c"];

    private static float[] OneHot(int i, float p = 0.8f)
    {
        var v = new float[] { (1 - p) / 2, (1 - p) / 2, (1 - p) / 2 };
        v[i] = p;
        return v;
    }

    [Test]
    public void ConfusionMatrixAndPerClassMetrics_MatchHandComputedValues()
    {
        // actual -> predicted pairs:
        // a: a a a b      b: b b a      c: c b c c c
        (int A, int P)[] pairs = [(0, 0), (0, 0), (0, 0), (0, 1), (1, 1), (1, 1), (1, 0), (2, 2), (2, 1), (2, 2), (2, 2), (2, 2)];
        var report = MetricsCalculator.Compute(Labels, pairs.Select(p => p.A).ToArray(), pairs.Select(p => OneHot(p.P)).ToArray());

        var expected = new int[,] { { 3, 1, 0 }, { 1, 2, 0 }, { 0, 1, 4 } };
        Assert.That(report.ConfusionMatrix, Is.EqualTo(expected));
        Assert.That(report.Accuracy, Is.EqualTo(9.0 / 12).Within(1e-9));
        // precision: a 3/4, b 2/4, c 4/4; recall: a 3/4, b 2/3, c 4/5
        Assert.That(report.PerClass[0].Precision, Is.EqualTo(0.75).Within(1e-9));
        Assert.That(report.PerClass[1].Precision, Is.EqualTo(0.5).Within(1e-9));
        Assert.That(report.PerClass[2].Precision, Is.EqualTo(1.0).Within(1e-9));
        Assert.That(report.PerClass[0].Recall, Is.EqualTo(0.75).Within(1e-9));
        Assert.That(report.PerClass[1].Recall, Is.EqualTo(2.0 / 3).Within(1e-9));
        Assert.That(report.PerClass[2].Recall, Is.EqualTo(0.8).Within(1e-9));
        Assert.That(report.PerClass.Select(c => c.Support), Is.EqualTo(new[] { 4, 3, 5 }));
        double f1B = 2 * 0.5 * (2.0 / 3) / (0.5 + 2.0 / 3), f1C = 2 * 0.8 / 1.8;
        Assert.That(report.MacroF1, Is.EqualTo((0.75 + f1B + f1C) / 3).Within(1e-9));
        Assert.That(report.MacroAccuracy, Is.EqualTo((0.75 + 2.0 / 3 + 0.8) / 3).Within(1e-9));
        Assert.That(report.LogLoss, Is.EqualTo(pairs.Average(p => p.A == p.P ? -Math.Log(0.8) : -Math.Log(0.1))).Within(1e-4));
        Assert.That(report.Count, Is.EqualTo(12));
    }

    [Test]
    public void ClassNeverPredicted_HasZeroPrecisionAndF1()
    {
        var report = MetricsCalculator.Compute(Labels, [0, 1, 2, 2], [OneHot(0), OneHot(1), OneHot(0), OneHot(1)]);
        Assert.That(report.PerClass[2].Precision, Is.Zero);
        Assert.That(report.PerClass[2].F1, Is.Zero);
        Assert.That(report.ConfusionMatrix, Is.EqualTo(new int[,] { { 1, 0, 0 }, { 0, 1, 0 }, { 1, 1, 0 } }));
    }

    [Test]
    public void MacroF1_LeavesOutALabelAbsentFromTestSetAndPredictions()
    {
        // actual -> predicted: a a b | b b; "c" occurs in neither. F1: a = 2·1·(2/3)/(1 + 2/3) = 0.8, b = 2·(2/3)·1/(2/3 + 1) = 0.8.
        var report = MetricsCalculator.Compute(Labels, [0, 0, 0, 1, 1], [OneHot(0), OneHot(0), OneHot(1), OneHot(1), OneHot(1)]);
        Assert.That(report.MacroF1, Is.EqualTo(0.8).Within(1e-9), "(0.8 + 0.8) / 2, not (0.8 + 0.8 + 0) / 3");
        Assert.That(report.PerClass[2].Support, Is.Zero);
    }

    [Test]
    public void ToString_PrintsEveryLabelAndTheMatrix()
    {
        var text = MetricsCalculator.Compute(Labels, [0, 1, 2], [OneHot(0), OneHot(1), OneHot(2)]).ToString();
        Assert.That(text, Does.Contain("Accuracy: 100.00 %"));
        foreach (var l in Labels) Assert.That(text, Does.Contain(l));
        Assert.That(text, Does.Contain("Confusion matrix"));
    }

    [Test]
    public void ToString_KeepsThePerClassColumnsAlignedAtOneHundredPercent()
    {
        // a is perfect (F1 100.0 %), b and c are not: every row's columns must end where the header's do.
        var text = MetricsCalculator.Compute(Labels, [0, 1, 2, 2], [OneHot(0), OneHot(1), OneHot(2), OneHot(1)]).ToString();
        var lines = text.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        int header = lines.FindIndex(l => l.StartsWith("Label"));
        var rows = lines.Skip(header).Take(1 + Labels.Length).ToList();
        Assert.That(rows[1], Does.Contain("100.0 % 100.0 % 100.0 %"), "row a: precision, recall and F1 at 100 %");
        Assert.That(rows.Select(r => r.Length).Distinct(), Has.Exactly(1).Items, string.Join("\n", rows));
        Assert.That(rows.Skip(1).Select(r => r.LastIndexOf('%')).Distinct(), Has.Exactly(1).Items, "the F1 column ends at the same place in every row");
    }

    [Test]
    public void MacroAccuracy_IsTheMeanRecallOverLabelsPresentInTheTestSet()
    {
        // actual -> predicted: a a | b b(as a); c is absent. Recalls a = 1, b = 0.5 -> 0.75, not (1 + 0.5 + 0) / 3.
        var report = MetricsCalculator.Compute(Labels, [0, 0, 1, 1], [OneHot(0), OneHot(0), OneHot(1), OneHot(0)]);
        Assert.That(report.MacroAccuracy, Is.EqualTo(0.75).Within(1e-9));
    }

    [Test]
    public void TrainingProgress_ToString_CountsHoursPastOneDay()
    {
        var p = new TrainingProgress { Epoch = 3, TotalEpochs = 9, Elapsed = new TimeSpan(1, 1, 3, 4) };
        Assert.That(p.ToString(), Does.EndWith("25:03:04"));
    }

    [Test]
    public void ConfusionMatrix_ReturnsACopy()
    {
        var report = MetricsCalculator.Compute(Labels, [0, 1, 2], [OneHot(0), OneHot(1), OneHot(2)]);
        report.ConfusionMatrix[0, 0] = 99;
        Assert.That(report.ConfusionMatrix[0, 0], Is.EqualTo(1));
    }
}
