//! The Marvell LiquidSecurity key attestation: what a Cloud HSM partition signs about one of its
//! keys. Google Cloud KMS hands it out with an HSM import job (`attestation.content`, gzipped),
//! Azure Managed HSM with a key (`privateKeyAttestation`, `publicKeyAttestation`). One parser
//! serves both.
//!
//! The layout (big-endian throughout), as Marvell's `parse_v2`, Google's
//! `kms/attestations` sample, smallstep's `kms/cloudkms/attestation.go` and PeculiarVentures'
//! `packages/marvell/src/parser.ts` read it:
//!
//! - a response header: four `u32` (response code, flags, total size, buffer size);
//! - `buffer size` bytes of attestation data, ending 256 bytes before the end: an info header of
//!   four `u16` (version, flags, offset of the first object, offset of the second, `0` if there
//!   is none), the offsets from the start of the data; then the objects;
//! - an object: `u32` handle, `u32` attribute count, `u32` size, then its attributes, each a
//!   `u32` type, a `u32` length and the value;
//! - the last 256 bytes: the partition key's RSA signature over everything before them.
//!
//! Nothing in a blob is trusted before the signature over it is checked: this module only reads
//! the layout, refusing anything that does not fit it exactly (an object past the data, an
//! attribute past its object, a type twice), within a size limit.

use std::collections::BTreeMap;
use std::io::Read as _;

/// The most a blob may hold, compressed or not; real ones are a few KB.
pub const MAX_BLOB: usize = 64 << 10;

/// The partition key's signature: RSA-2048.
pub const SIGNATURE_LEN: usize = 256;

const RESPONSE_HEADER: usize = 16;
const INFO_HEADER: usize = 8;
const OBJECT_HEADER: usize = 12;
const ATTRIBUTE_HEADER: usize = 8;
/// More attributes than a LiquidSecurity object has (about 40).
const MAX_ATTRIBUTES: u32 = 256;

/// `CKA_CLASS`.
pub const CLASS: u32 = 0x0000;
/// `CKA_TOKEN`.
pub const TOKEN: u32 = 0x0001;
/// `CKA_PRIVATE`.
pub const PRIVATE: u32 = 0x0002;
/// `CKA_LABEL`.
pub const LABEL: u32 = 0x0003;
/// `CKA_TRUSTED`.
pub const TRUSTED: u32 = 0x0086;
/// `CKA_KEY_TYPE`.
pub const KEY_TYPE: u32 = 0x0100;
/// `CKA_ID`.
pub const ID: u32 = 0x0102;
/// `CKA_SENSITIVE`.
pub const SENSITIVE: u32 = 0x0103;
/// `CKA_ENCRYPT`.
pub const ENCRYPT: u32 = 0x0104;
/// `CKA_DECRYPT`.
pub const DECRYPT: u32 = 0x0105;
/// `CKA_WRAP`.
pub const WRAP: u32 = 0x0106;
/// `CKA_UNWRAP`.
pub const UNWRAP: u32 = 0x0107;
/// `CKA_SIGN`.
pub const SIGN: u32 = 0x0108;
/// `CKA_VERIFY`.
pub const VERIFY: u32 = 0x010a;
/// `CKA_DERIVE`.
pub const DERIVE: u32 = 0x010c;
/// `CKA_MODULUS`.
pub const MODULUS: u32 = 0x0120;
/// `CKA_MODULUS_BITS`.
pub const MODULUS_BITS: u32 = 0x0121;
/// `CKA_PUBLIC_EXPONENT`.
pub const PUBLIC_EXPONENT: u32 = 0x0122;
/// `CKA_VALUE_LEN`.
pub const VALUE_LEN: u32 = 0x0161;
/// `CKA_EXTRACTABLE`.
pub const EXTRACTABLE: u32 = 0x0162;
/// `CKA_LOCAL`.
pub const LOCAL: u32 = 0x0163;
/// `CKA_NEVER_EXTRACTABLE`.
pub const NEVER_EXTRACTABLE: u32 = 0x0164;
/// `CKA_ALWAYS_SENSITIVE`.
pub const ALWAYS_SENSITIVE: u32 = 0x0165;
/// `CKA_WRAP_WITH_TRUSTED`.
pub const WRAP_WITH_TRUSTED: u32 = 0x0210;

/// `CKO_PUBLIC_KEY`.
pub const CKO_PUBLIC_KEY: u64 = 2;
/// `CKO_PRIVATE_KEY`.
pub const CKO_PRIVATE_KEY: u64 = 3;
/// `CKK_RSA`.
pub const CKK_RSA: u64 = 0;

/// The PKCS#11 name of an attribute type, for the ones keyrite names.
pub fn attribute_name(kind: u32) -> Option<&'static str> {
    Some(match kind {
        CLASS => "CKA_CLASS",
        TOKEN => "CKA_TOKEN",
        PRIVATE => "CKA_PRIVATE",
        LABEL => "CKA_LABEL",
        TRUSTED => "CKA_TRUSTED",
        KEY_TYPE => "CKA_KEY_TYPE",
        ID => "CKA_ID",
        SENSITIVE => "CKA_SENSITIVE",
        ENCRYPT => "CKA_ENCRYPT",
        DECRYPT => "CKA_DECRYPT",
        WRAP => "CKA_WRAP",
        UNWRAP => "CKA_UNWRAP",
        SIGN => "CKA_SIGN",
        VERIFY => "CKA_VERIFY",
        DERIVE => "CKA_DERIVE",
        MODULUS => "CKA_MODULUS",
        MODULUS_BITS => "CKA_MODULUS_BITS",
        PUBLIC_EXPONENT => "CKA_PUBLIC_EXPONENT",
        VALUE_LEN => "CKA_VALUE_LEN",
        EXTRACTABLE => "CKA_EXTRACTABLE",
        LOCAL => "CKA_LOCAL",
        NEVER_EXTRACTABLE => "CKA_NEVER_EXTRACTABLE",
        ALWAYS_SENSITIVE => "CKA_ALWAYS_SENSITIVE",
        WRAP_WITH_TRUSTED => "CKA_WRAP_WITH_TRUSTED",
        _ => return None,
    })
}

/// Why a blob does not fit the layout.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Larger than [`MAX_BLOB`], compressed or once decompressed.
    #[error("it is larger than {MAX_BLOB} bytes, more than any Marvell attestation holds")]
    TooLarge,
    /// Compressed, but not a whole gzip stream.
    #[error("it starts as gzip but does not decompress: {0}")]
    Gzip(String),
    /// Too short for its headers and signature.
    #[error("it is {0} bytes, too short for a Marvell attestation's headers and signature")]
    TooShort(usize),
    /// The response header says the device refused the request.
    #[error("its response code is {0:#x}, not 0: the HSM did not attest")]
    ResponseCode(u32),
    /// The response header's buffer size does not fit the blob.
    #[error("its buffer size ({buffer}) does not fit in its {len} bytes")]
    BufferSize {
        /// The buffer size.
        buffer: u32,
        /// The blob's length.
        len: usize,
    },
    /// An object's offset or extent is outside the attestation data.
    #[error("its {which} object (at offset {offset}) lies outside its attestation data")]
    ObjectOutside {
        /// `first` or `second`.
        which: &'static str,
        /// Its offset in the data.
        offset: u16,
    },
    /// An object holds more attributes than fit.
    #[error("its {which} object claims {count} attributes, more than fit in it")]
    AttributeCount {
        /// `first` or `second`.
        which: &'static str,
        /// The count.
        count: u32,
    },
    /// An attribute runs past its object.
    #[error("attribute {kind:#06x} of its {which} object runs past the object's end")]
    AttributeOutside {
        /// `first` or `second`.
        which: &'static str,
        /// The attribute type.
        kind: u32,
    },
    /// An attribute type appears twice in one object.
    #[error("attribute {kind:#06x} appears twice in its {which} object")]
    AttributeTwice {
        /// `first` or `second`.
        which: &'static str,
        /// The attribute type.
        kind: u32,
    },
    /// An object's size field, its attributes and its place in the data disagree.
    #[error(
        "its {which} object says its attributes take {said} bytes, its place in the data leaves {span}, and they take {actual}"
    )]
    ObjectSize {
        /// `first` or `second`.
        which: &'static str,
        /// The size field.
        said: u32,
        /// The bytes between its header and the next object or the data's end.
        span: usize,
        /// The bytes its attributes take.
        actual: usize,
    },
    /// The response header's total size is not the blob's.
    #[error("its response header says it is {said} bytes, but it is {len}")]
    TotalSize {
        /// The total size field.
        said: u32,
        /// The blob's length.
        len: usize,
    },
}

/// One attested object: its handle and attributes, by type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// The object's handle in the partition.
    pub handle: u32,
    /// Its attributes' values, by type.
    pub attributes: BTreeMap<u32, Vec<u8>>,
}

impl Object {
    /// An attribute's value.
    pub fn get(&self, kind: u32) -> Option<&[u8]> {
        self.attributes.get(&kind).map(Vec::as_slice)
    }

    /// A boolean attribute: one byte, `0` or `1`; `None` if absent or anything else.
    pub fn flag(&self, kind: u32) -> Option<bool> {
        match self.get(kind)? {
            [0] => Some(false),
            [1] => Some(true),
            _ => None,
        }
    }

    /// A number attribute (`CKA_CLASS`, `CKA_KEY_TYPE`, `CKA_MODULUS_BITS`): big-endian, at most
    /// eight bytes.
    pub fn number(&self, kind: u32) -> Option<u64> {
        let value = self.get(kind)?;
        (!value.is_empty() && value.len() <= 8)
            .then(|| value.iter().fold(0u64, |n, b| (n << 8) | u64::from(*b)))
    }
}

/// A blob read per the layout; nothing in it checked but its shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// Whether it came gzipped.
    pub compressed: bool,
    /// The response header's flags.
    pub flags: u32,
    /// The info header's version.
    pub version: u16,
    /// The attested objects, in their order in the blob.
    pub objects: Vec<Object>,
    /// Everything the signature covers: the whole (decompressed) blob but the signature.
    pub signed: Vec<u8>,
    /// The signature.
    pub signature: Vec<u8>,
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(
        b.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

/// Gunzips `bytes` if they are gzip (`1f 8b`), never past [`MAX_BLOB`].
fn decompress(bytes: &[u8]) -> Result<(Vec<u8>, bool), ParseError> {
    if bytes.len() > MAX_BLOB {
        return Err(ParseError::TooLarge);
    }
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok((bytes.to_vec(), false));
    }
    let mut out = Vec::new();
    let mut decoder = flate2::bufread::GzDecoder::new(bytes);
    (&mut decoder)
        .take(MAX_BLOB as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| ParseError::Gzip(e.to_string()))?;
    if out.len() > MAX_BLOB {
        return Err(ParseError::TooLarge);
    }
    if !decoder.into_inner().is_empty() {
        return Err(ParseError::Gzip("bytes follow the gzip stream".into()));
    }
    Ok((out, true))
}

/// Reads the object at `start..end` of `data`.
fn object(
    data: &[u8],
    start: usize,
    end: usize,
    which: &'static str,
) -> Result<Object, ParseError> {
    let outside = || ParseError::ObjectOutside {
        which,
        offset: u16::try_from(start).unwrap_or(u16::MAX),
    };
    let body = data.get(start..end).ok_or_else(outside)?;
    let (Some(handle), Some(count), Some(size)) =
        (u32_at(body, 0), u32_at(body, 4), u32_at(body, 8))
    else {
        return Err(outside());
    };
    if count > MAX_ATTRIBUTES || count as usize * ATTRIBUTE_HEADER > body.len() - OBJECT_HEADER {
        return Err(ParseError::AttributeCount { which, count });
    }
    let mut attributes = BTreeMap::new();
    let mut at = OBJECT_HEADER;
    for _ in 0..count {
        let kind = u32_at(body, at).ok_or(ParseError::AttributeOutside { which, kind: 0 })?;
        let past = ParseError::AttributeOutside { which, kind };
        let len = u32_at(body, at + 4).ok_or_else(|| past.clone())? as usize;
        let value_at = at + ATTRIBUTE_HEADER;
        let value = value_at
            .checked_add(len)
            .and_then(|value_end| body.get(value_at..value_end))
            .ok_or(past)?;
        if attributes.insert(kind, value.to_vec()).is_some() {
            return Err(ParseError::AttributeTwice { which, kind });
        }
        at = value_at + len;
    }
    if size as usize != at - OBJECT_HEADER || at != body.len() {
        return Err(ParseError::ObjectSize {
            which,
            said: size,
            span: body.len() - OBJECT_HEADER,
            actual: at - OBJECT_HEADER,
        });
    }
    Ok(Object { handle, attributes })
}

/// Reads a blob, gzipped or not.
pub fn parse(bytes: &[u8]) -> Result<Blob, ParseError> {
    let (raw, compressed) = decompress(bytes)?;
    let len = raw.len();
    if len < RESPONSE_HEADER + INFO_HEADER + SIGNATURE_LEN {
        return Err(ParseError::TooShort(len));
    }
    let header = |at| u32_at(&raw, at).ok_or(ParseError::TooShort(len));
    let (code, flags, total_size, buffer) = (header(0)?, header(4)?, header(8)?, header(12)?);
    if code != 0 {
        return Err(ParseError::ResponseCode(code));
    }
    if total_size as usize != len {
        return Err(ParseError::TotalSize {
            said: total_size,
            len,
        });
    }
    let signed_len = len - SIGNATURE_LEN;
    let data_start = signed_len
        .checked_sub(buffer as usize)
        .filter(|start| *start >= RESPONSE_HEADER && buffer as usize >= INFO_HEADER)
        .ok_or(ParseError::BufferSize { buffer, len })?;
    let data = &raw[data_start..signed_len];
    let info = |at| u16_at(data, at).ok_or(ParseError::BufferSize { buffer, len });
    let (version, first, second) = (info(0)?, info(4)?, info(6)?);
    let first_end = if second == 0 {
        data.len()
    } else {
        usize::from(second)
    };
    let inside = |offset: u16, end: usize, which| {
        if usize::from(offset) < INFO_HEADER || usize::from(offset) > end {
            Err(ParseError::ObjectOutside { which, offset })
        } else {
            Ok(())
        }
    };
    inside(first, first_end, "first")?;
    let mut objects = vec![object(data, usize::from(first), first_end, "first")?];
    if second != 0 {
        inside(second, data.len(), "second")?;
        objects.push(object(data, usize::from(second), data.len(), "second")?);
    }
    Ok(Blob {
        compressed,
        flags,
        version,
        objects,
        signed: raw[..signed_len].to_vec(),
        signature: raw[signed_len..].to_vec(),
    })
}
