# Import by the target group ARNs, separated by commas. The version is read
# from the instances' rolling:version tags; steps come from the configuration.
terraform import rolling_deployment.web \
  arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web/0123456789abcdef,arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/web-tls/fedcba9876543210
