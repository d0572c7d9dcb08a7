import csv
import io

from core.exports import cell, csv_response


def test_text_a_spreadsheet_would_run_as_a_formula_is_neutralised():
    for dangerous in ('=HYPERLINK("http://evil","x")', "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"):
        assert cell(dangerous) == "'" + dangerous


def test_numbers_and_plain_text_stay_as_they_are():
    for safe in ("-3.50", "+12", "shopper-42", "", 7, None, "1e3"):
        assert cell(safe) == safe


def test_a_csv_download_neutralises_every_cell_and_streams_when_asked():
    rows = [["customer_ref", "amount"], ['=HYPERLINK("http://evil","x")', "-1.00"]]

    whole = csv_response(rows, "x.csv")
    streamed = csv_response(iter(rows), "x.csv", stream=True)

    parsed = list(csv.reader(io.StringIO(whole.content.decode())))
    assert parsed[1] == ['\'=HYPERLINK("http://evil","x")', "-1.00"]
    assert b"".join(streamed.streaming_content) == whole.content
    assert whole["Content-Disposition"] == 'attachment; filename="x.csv"'
