//! The model artifact: one file per trained model of one target.
//!
//! Layout: the magic line `TIDECAST-MODEL\n` (15 bytes), the format version (u32, little
//! endian), the SHA-256 of the payload (32 bytes), then the payload: the [`Artifact`] in
//! CBOR. `models/README.md` documents it and `models/artifact.schema.json` is the payload's
//! JSON schema (what `tidecast models show` prints).

use serde::{Deserialize, Serialize};
use tidecast_models::{Fitted, HorizonScore};

/// The file's first bytes.
pub const MAGIC: &[u8; 15] = b"TIDECAST-MODEL\n";
/// The format this build writes, and the newest it reads.
pub const FORMAT_VERSION: u32 = 3;
const HEADER: usize = MAGIC.len() + 4 + 32;

/// Everything needed to serve a target's forecasts without refitting, and to judge the
/// model.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Artifact {
    /// The target's name (`targets[].name`).
    pub target: String,
    /// SHA-256 (hex) of the target's model-relevant settings (query, step, window, time
    /// zone, holidays, refit schedule, model, horizon): a server uses an artifact only when
    /// it matches its own config.
    pub config_hash: String,
    /// The tidecast version that trained it.
    pub tidecast_version: String,
    /// When it was trained (Unix seconds).
    pub trained_at: i64,
    /// The refit point the model was fitted at (Unix seconds): its data end. A server
    /// brings it up to date with the history after it.
    pub refit_point: i64,
    /// The training window (seconds).
    pub window_secs: i64,
    /// First and last grid points of the history fitted on (Unix seconds).
    pub data_start: i64,
    /// See `data_start`.
    pub data_end: i64,
    /// Observed (non-missing) samples in the window.
    pub samples: usize,
    /// The grid step (seconds).
    pub step: i64,
    /// What the fit chose (the model's name).
    pub model_name: String,
    /// Backtest scores of this model on the most recent days, by horizon.
    pub scores: Vec<HorizonScore>,
    /// The fitted model with its calibration and state at `refit_point`.
    pub model: Fitted,
}

/// Why bytes are not a usable artifact; the caller adds the file name.
#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    /// Not a tidecast model file at all.
    #[error("not a tidecast model artifact (no TIDECAST-MODEL header)")]
    Foreign,
    /// Shorter than its header, or its payload ends early.
    #[error("truncated: {0}")]
    Truncated(String),
    /// The payload does not match its checksum.
    #[error("corrupt: the payload's SHA-256 does not match the header's")]
    Corrupt,
    /// Written by a newer tidecast.
    #[error("format version {found} is newer than this tidecast reads (up to {FORMAT_VERSION})")]
    Newer {
        /// The file's version.
        found: u32,
    },
    /// The checksum matches but the payload does not decode (a bug, or an older format).
    #[error("the payload does not decode: {0}")]
    Decode(String),
    /// Encoding failed.
    #[error("encoding the artifact: {0}")]
    Encode(String),
}

impl Artifact {
    /// The file's bytes.
    pub fn encode(&self) -> Result<Vec<u8>, ArtifactError> {
        let mut payload = Vec::new();
        ciborium::into_writer(self, &mut payload)
            .map_err(|e| ArtifactError::Encode(e.to_string()))?;
        let mut out = Vec::with_capacity(HEADER + payload.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&FORMAT_VERSION.to_le_bytes());
        out.extend_from_slice(&sha256(&payload));
        out.extend_from_slice(&payload);
        Ok(out)
    }

    /// Read an artifact from a file's bytes, refusing foreign, truncated, corrupt and
    /// newer-format files.
    pub fn decode(bytes: &[u8]) -> Result<Artifact, ArtifactError> {
        let magic_len = MAGIC.len().min(bytes.len());
        if bytes[..magic_len] != MAGIC[..magic_len] || bytes.is_empty() {
            return Err(ArtifactError::Foreign);
        }
        if bytes.len() < HEADER {
            return Err(ArtifactError::Truncated(format!(
                "{} bytes, the header alone is {HEADER}",
                bytes.len()
            )));
        }
        let version = u32::from_le_bytes(bytes[15..19].try_into().expect("4 bytes"));
        if version > FORMAT_VERSION {
            return Err(ArtifactError::Newer { found: version });
        }
        let payload = &bytes[HEADER..];
        if sha256(payload)[..] != bytes[19..HEADER] {
            // A cut file fails the checksum too; say which it most likely is.
            return Err(match ciborium::from_reader::<ciborium::Value, _>(payload) {
                Err(ciborium::de::Error::Io(_)) => {
                    ArtifactError::Truncated("the payload ends early".into())
                }
                _ => ArtifactError::Corrupt,
            });
        }
        ciborium::from_reader(payload).map_err(|e| ArtifactError::Decode(e.to_string()))
    }

    /// The artifact as JSON (non-finite numbers become `null`), for `models show`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_else(|e| serde_json::json!({"error": e.to_string()}))
    }
}

/// SHA-256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, bytes);
    d.as_ref().try_into().expect("32 bytes")
}

/// SHA-256 of `bytes` in lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    sha256(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use tidecast_core::{Calendar, Predict, Series};
    use tidecast_models::Forecaster;

    /// The NAB series (5-minute steps) on a grid from an aligned start.
    fn series() -> Series {
        let text =
            std::fs::read_to_string(tidecast_testing::data_path("nab_twitter_volume_amzn.csv"))
                .unwrap();
        let values = text
            .lines()
            .skip(1)
            .map(|l| l.split(',').nth(1).unwrap().parse().unwrap())
            .collect();
        Series::new(1_700_006_400, 300, values).unwrap()
    }

    fn artifact() -> (Artifact, Series, i64) {
        let s = series();
        let f = Forecaster::new(Arc::new(Calendar::default()));
        let at = f.refit_point(s.end().unwrap()) - 86_400;
        let model = f.fit_at(&s, at, 12).unwrap();
        let a = Artifact {
            target: "amzn".into(),
            config_hash: sha256_hex(b"config"),
            tidecast_version: "0.1.0".into(),
            trained_at: at + 600,
            refit_point: at,
            window_secs: 42 * 86_400,
            data_start: s.start(),
            data_end: at,
            samples: s.observed(),
            step: 300,
            model_name: model.name().to_string(),
            scores: Vec::new(),
            model,
        };
        (a, s, at)
    }

    #[test]
    fn a_decoded_model_forecasts_and_updates_exactly_as_the_fitted_one() {
        let (a, s, at) = artifact();
        assert!(
            a.model_name.contains('+'),
            "the full combination: {}",
            a.model_name
        );
        let bytes = a.encode().unwrap();
        let mut back = Artifact::decode(&bytes).unwrap();
        let mut original = a.model;
        let q = [0.1, 0.5, 0.9];
        let same = |x: &tidecast_models::Fitted, y: &tidecast_models::Fitted| {
            let (fx, fy) = (x.predict(12, &q).unwrap(), y.predict(12, &q).unwrap());
            assert_eq!(format!("{fx:?}"), format!("{fy:?}"));
        };
        same(&original, &back.model);
        // A day of updates after the refit point, as a server brings a model up to date.
        let from = s.index_at_or_before(at).unwrap() + 1;
        for i in from..s.len() {
            original.update(s.timestamp(i), s.values()[i]);
            back.model.update(s.timestamp(i), s.values()[i]);
        }
        same(&original, &back.model);
        assert_eq!(back.target, "amzn");
        assert_eq!(back.model_name, original.name());
    }

    #[test]
    fn foreign_truncated_corrupt_and_newer_files_are_refused_with_the_reason() {
        let (a, ..) = artifact();
        let bytes = a.encode().unwrap();
        assert!(matches!(
            Artifact::decode(b"timestamp,value\n"),
            Err(ArtifactError::Foreign)
        ));
        assert!(matches!(Artifact::decode(b""), Err(ArtifactError::Foreign)));
        for cut in [10, 20, HEADER, HEADER + 1, bytes.len() / 2, bytes.len() - 1] {
            let e = Artifact::decode(&bytes[..cut]).unwrap_err();
            assert!(
                matches!(e, ArtifactError::Truncated(_)),
                "cut at {cut}: {e}"
            );
        }
        let mut flipped = bytes.clone();
        let at = bytes.len() - 40;
        flipped[at] ^= 0x55;
        assert!(matches!(
            Artifact::decode(&flipped),
            Err(ArtifactError::Corrupt)
        ));
        let mut newer = bytes.clone();
        newer[15..19].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
        let e = Artifact::decode(&newer).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "format version {} is newer than this tidecast reads (up to {FORMAT_VERSION})",
                FORMAT_VERSION + 1
            )
        );
        // Versions 1 and 2 differ only in which long series are stored packed, which the
        // model reads in either form: their headers are read.
        for v in 1..FORMAT_VERSION {
            let mut older = bytes.clone();
            older[15..19].copy_from_slice(&v.to_le_bytes());
            assert!(Artifact::decode(&older).is_ok(), "version {v}");
        }
    }

    #[test]
    fn the_json_view_has_the_header_fields_and_the_model() {
        let (a, ..) = artifact();
        let j = a.to_json();
        assert_eq!(j["target"], "amzn");
        assert_eq!(j["step"], 300);
        assert!(j["model"]["auto"].is_object(), "{}", j["model"]);
    }
}
