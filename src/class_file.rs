//! The class-data file the page exports (www/ui/classroom/class-file.js): a class's labelled
//! drawings as one file — an IDX images file (N×28×28 bytes) immediately followed by an IDX
//! labels file (N bytes), optionally gzipped as a whole. Split at 16 + 784·N bytes, the halves
//! are MNIST's `*-images-idx3-ubyte` and `*-labels-idx1-ubyte`, read by the same code.

use crate::data::{gunzip_if_needed, write_idx, Dataset, PIXELS};
use crate::error::{Error, Result};
use crate::spec::INPUT_SIZE;

/// Reads a class-data file (plain or gzipped).
pub fn read(bytes: &[u8]) -> Result<Dataset> {
    let bytes = gunzip_if_needed(bytes)?;
    if bytes.len() < 16 || bytes[..4] != [0, 0, 0x08, 0x03] {
        return Err(Error::Idx("not a class-data file: it does not start with an IDX images header (00 00 08 03)".into()));
    }
    let count = u32::from_be_bytes(bytes[4..8].try_into().expect("4 bytes")) as usize;
    let images_len = count.checked_mul(PIXELS).and_then(|n| n.checked_add(16)).filter(|&n| n <= bytes.len());
    let images_len = images_len
        .ok_or_else(|| Error::Idx(format!("the file is cut short: {count} images do not fit in its {} bytes", bytes.len())))?;
    Dataset::from_idx(&bytes[..images_len], &bytes[images_len..])
}

/// Writes a dataset as a class-data file (not gzipped), as the page does.
pub fn write(set: &Dataset) -> Vec<u8> {
    let mut out = write_idx(&[set.len(), INPUT_SIZE, INPUT_SIZE], &set.images);
    out.extend(write_idx(&[set.len()], &set.labels));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(n: usize) -> Dataset {
        Dataset { images: (0..n * PIXELS).map(|i| (i * 7 % 256) as u8).collect(), labels: (0..n).map(|i| (i % 10) as u8).collect() }
    }

    #[test]
    fn reads_what_it_writes_plain_and_gzipped() {
        let set = sample(30);
        let bytes = write(&set);
        assert_eq!(bytes.len(), 16 + 30 * PIXELS + 8 + 30);
        let back = read(&bytes).unwrap();
        assert_eq!((back.images, back.labels), (set.images.clone(), set.labels.clone()));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        std::io::Write::write_all(&mut gz, &bytes).unwrap();
        let back = read(&gz.finish().unwrap()).unwrap();
        assert_eq!(back.labels, set.labels);
    }

    #[test]
    fn refuses_damaged_files_with_reasons() {
        let bytes = write(&sample(3));
        let message = |b: &[u8]| read(b).unwrap_err().to_string();
        assert!(message(&bytes[..bytes.len() - 1]).contains("3 data bytes"), "{}", message(&bytes[..bytes.len() - 1]));
        assert!(message(&bytes[..100]).contains("cut short"));
        assert!(message(b"hello").contains("not a class-data file"));
        let mut bad_label = bytes.clone();
        *bad_label.last_mut().unwrap() = 12;
        assert!(message(&bad_label).contains("label 12"));
        let mut huge = bytes.clone();
        huge[4..8].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(message(&huge).contains("cut short"));
    }
}
