"""What the clinic learns from its data: a patient's course, cohort figures, charts, PDFs, export and import."""
