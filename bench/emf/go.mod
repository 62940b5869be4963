module github.com/cpwarden/cpwarden/bench/emf

go 1.26.0

replace github.com/cpwarden/cpwarden => ../..

require (
	github.com/aws/aws-sdk-go-v2/service/cloudwatch v1.75.7
	github.com/cpwarden/cpwarden v0.0.0-00010101000000-000000000000
	github.com/prozz/aws-embedded-metrics-golang v1.2.0
)

require (
	github.com/aws/aws-lambda-go v1.55.1 // indirect
	github.com/aws/aws-sdk-go-v2 v1.48.0 // indirect
	github.com/aws/smithy-go v1.28.9 // indirect
)
