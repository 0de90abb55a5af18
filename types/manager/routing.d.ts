/** NotStartedError.waitedFor for a run that waited for its model's version to load (ModelManager). */
export declare const VERSION_LOAD = "a version to load";
