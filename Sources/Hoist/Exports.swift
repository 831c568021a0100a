@_exported import HoistCluster
@_exported import HoistCore
@_exported import HoistSSH
@_exported import HoistLambdaRuntime
