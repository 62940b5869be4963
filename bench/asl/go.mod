module github.com/cpwarden/cpwarden/bench/asl

go 1.26.0

replace github.com/cpwarden/cpwarden => ../..

require github.com/cpwarden/cpwarden v0.0.0-00010101000000-000000000000

require github.com/aws/aws-lambda-go v1.55.1 // indirect
