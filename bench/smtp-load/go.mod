module postmaster.dev/bench/smtp-load

go 1.26
