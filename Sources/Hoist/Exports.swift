@_exported import HoistCluster
@_exported import HoistCore
@_exported import HoistSSH
@_exported import HoistLambdaRuntime
@_exported import HoistAWS
@_exported import HoistLambdaDeploy
@_exported import HoistLambdaPackage
