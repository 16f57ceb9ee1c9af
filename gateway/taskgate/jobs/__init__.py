"""What may be done with a job, whatever the transport: submit, snapshot, cancel, the ownership
check and the submit limits."""
