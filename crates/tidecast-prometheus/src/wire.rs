//! The JSON of the Prometheus HTTP API, parsed without copying sample values.

use crate::{Error, LabeledSeries, Labels, Result};
use serde::Deserialize;
use tidecast_core::Sample;

#[derive(Deserialize)]
struct Envelope<'a> {
    status: &'a str,
    #[serde(borrow, default)]
    data: Option<Data<'a>>,
    #[serde(rename = "errorType", default)]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
struct Data<'a> {
    #[serde(rename = "resultType")]
    result_type: &'a str,
    #[serde(borrow)]
    result: Vec<WireSeries<'a>>,
}

#[derive(Deserialize)]
struct WireSeries<'a> {
    #[serde(default)]
    metric: Labels,
    #[serde(borrow, default)]
    values: Vec<(f64, &'a str)>,
    #[serde(borrow, default)]
    value: Option<(f64, &'a str)>,
}

/// Just enough to explain a result that is not a vector or matrix.
#[derive(Deserialize)]
struct Shape<'a> {
    #[serde(borrow)]
    data: ShapeData<'a>,
}
#[derive(Deserialize)]
struct ShapeData<'a> {
    #[serde(rename = "resultType")]
    result_type: &'a str,
}

/// A sample value: Prometheus writes floats as strings, with `NaN`, `+Inf`, `-Inf`.
pub(crate) fn parse_value(s: &str) -> Option<f64> {
    match s {
        "NaN" | "+Inf" | "-Inf" | "Inf" => Some(f64::NAN),
        _ => s
            .parse::<f64>()
            .ok()
            .map(|v| if v.is_finite() { v } else { f64::NAN }),
    }
}

/// The `error`/`errorType` of an error answer, if the body is one.
pub(crate) fn error_body(body: &[u8]) -> Option<(String, String)> {
    let e: Envelope<'_> = serde_json::from_slice(body).ok()?;
    Some((e.error_type?, e.error.unwrap_or_default()))
}

/// Parse a successful `query` or `query_range` answer into series.
pub(crate) fn parse_result(url: &str, body: &[u8]) -> Result<Vec<LabeledSeries>> {
    let decode = |message: String| Error::Decode {
        url: url.to_string(),
        message,
    };
    let env: Envelope<'_> =
        serde_json::from_slice(body).map_err(|e| {
            match serde_json::from_slice::<Shape<'_>>(body) {
                Ok(s) if !matches!(s.data.result_type, "matrix" | "vector") => decode(format!(
                    "the query returned a {}; expected an instant vector or a range vector",
                    s.data.result_type
                )),
                _ => decode(e.to_string()),
            }
        })?;
    if env.status != "success" {
        return Err(decode(format!(
            "status {:?}: {}: {}",
            env.status,
            env.error_type.unwrap_or_default(),
            env.error.unwrap_or_default()
        )));
    }
    let data = env
        .data
        .ok_or_else(|| decode("no `data` in a success answer".into()))?;
    if !matches!(data.result_type, "matrix" | "vector") {
        return Err(decode(format!(
            "unexpected resultType {:?}",
            data.result_type
        )));
    }
    let mut out = Vec::with_capacity(data.result.len());
    for s in data.result {
        let raw = if s.values.is_empty() {
            s.value.into_iter().collect()
        } else {
            s.values
        };
        let mut samples = Vec::with_capacity(raw.len());
        for (t, v) in raw {
            let value = parse_value(v)
                .ok_or_else(|| decode(format!("sample value {v:?} is not a number")))?;
            samples.push(Sample {
                timestamp: t,
                value,
            });
        }
        out.push(LabeledSeries {
            labels: s.metric,
            samples,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrices_parse_with_missing_markers() {
        let body = br#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"service":"a"},"values":[[1790000000,"1.5"],[1790000060,"NaN"],[1790000120,"+Inf"],[1790000180.5,"-3"]]}]}}"#;
        let s = parse_result("u", body).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].labels["service"], "a");
        let v: Vec<f64> = s[0].samples.iter().map(|x| x.value).collect();
        assert_eq!(v[0], 1.5);
        assert!(v[1].is_nan() && v[2].is_nan());
        assert_eq!(v[3], -3.0);
        assert_eq!(s[0].samples[3].timestamp, 1_790_000_180.5);
    }

    #[test]
    fn instant_vectors_parse() {
        let body = br#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1790000000.1,"7"]}]}}"#;
        let s = parse_result("u", body).unwrap();
        assert_eq!(s[0].samples[0].value, 7.0);
    }

    #[test]
    fn scalars_and_garbage_are_explained() {
        let body =
            br#"{"status":"success","data":{"resultType":"scalar","result":[1790000000,"1"]}}"#;
        let e = parse_result("http://p/api/v1/query", body)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("returned a scalar") && e.contains("http://p/api/v1/query"),
            "{e}"
        );
        let e = parse_result("u", b"{\"status\":\"succ")
            .unwrap_err()
            .to_string();
        assert!(e.contains("malformed answer"), "{e}");
        let e = parse_result("u", br#"{"status":"success","data":{"resultType":"matrix","result":[{"metric":{},"values":[[1,"x"]]}]}}"#).unwrap_err();
        assert!(e.to_string().contains("\"x\""));
    }

    #[test]
    fn error_bodies_are_read_verbatim() {
        let (t, e) = error_body(
            br#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#,
        )
        .unwrap();
        assert_eq!(
            (t.as_str(), e.as_str()),
            ("bad_data", "parse error at char 5")
        );
    }
}
