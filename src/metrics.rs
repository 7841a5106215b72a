//! Classification metrics computed on the host from labels and predictions.

use serde::{Deserialize, Serialize};

use crate::data::NUM_CLASSES;

/// `matrix[true][predicted]` counts.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfusionMatrix {
    pub matrix: [[u32; NUM_CLASSES]; NUM_CLASSES],
}

impl ConfusionMatrix {
    pub fn from_predictions(labels: &[u8], predictions: &[u8]) -> Self {
        let mut m = Self::default();
        for (&t, &p) in labels.iter().zip(predictions) {
            if (t as usize) < NUM_CLASSES && (p as usize) < NUM_CLASSES {
                m.matrix[t as usize][p as usize] += 1;
            }
        }
        m
    }

    pub fn total(&self) -> u32 {
        self.matrix.iter().flatten().sum()
    }

    pub fn correct(&self) -> u32 {
        (0..NUM_CLASSES).map(|i| self.matrix[i][i]).sum()
    }

    pub fn accuracy(&self) -> f64 {
        let total = self.total();
        if total == 0 {
            0.0
        } else {
            self.correct() as f64 / total as f64
        }
    }

    /// Recall of each class (correct / how many of that class there are); 0 for an absent class.
    pub fn per_class_accuracy(&self) -> [f64; NUM_CLASSES] {
        let mut out = [0.0; NUM_CLASSES];
        for (c, row) in self.matrix.iter().enumerate() {
            let n: u32 = row.iter().sum();
            out[c] = if n == 0 { 0.0 } else { row[c] as f64 / n as f64 };
        }
        out
    }
}

/// The result of evaluating a model on a labelled set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EvalReport {
    pub loss: f64,
    pub accuracy: f64,
    pub confusion: ConfusionMatrix,
    pub per_class_accuracy: [f64; NUM_CLASSES],
    /// Predicted class of every evaluated image, in order.
    pub predictions: Vec<u8>,
}

impl EvalReport {
    pub fn new(loss: f64, labels: &[u8], predictions: Vec<u8>) -> Self {
        let confusion = ConfusionMatrix::from_predictions(labels, &predictions);
        Self {
            loss,
            accuracy: confusion.accuracy(),
            per_class_accuracy: confusion.per_class_accuracy(),
            confusion,
            predictions,
        }
    }
}
